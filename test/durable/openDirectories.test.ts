/**
 * A checkpoint's writer keeps the directories it fsyncs open between atomic writes: one descriptor per directory,
 * let go of when it removes or renames one, all closed at the end, and never a write that loses its fsync.
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { mkdir, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { nodeFs } from '../../src/durable/fs.js'
import { OpenDirectories } from '../../src/durable/openDirectories.js'
import { fencedFs } from '../../src/durable/lease.js'
import { FencedError } from '../../src/errors.js'
import { createSession, memorySink, memorySource } from '../../src/index.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** What this process's open descriptors point at (Linux: /proc/self/fd), e.g. '/tmp/x/offsets (deleted)'. */
function openTargets(): string[] {
  const targets: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`))
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return targets
}

const descriptorsOf = (path: string) => openTargets().filter((t) => t === path || t.startsWith(`${path} `)).length
const under = (root: string) => openTargets().filter((t) => t.startsWith(root))

describe.skipIf(process.platform !== 'linux')('nodeFs.withOpenDirectories', () => {
  const dir = useTempDir()

  it('fsyncs a directory through one descriptor kept open across writes, and closes it at the end', async () => {
    const fs = nodeFs.withOpenDirectories!()
    const offsets = join(dir(), 'offsets')
    for (let i = 0; i < 5; i++) await fs.writeFileAtomic(join(offsets, String(i)), `batch ${i}`)
    expect(descriptorsOf(offsets)).toBe(1)
    expect(await readdir(offsets)).toEqual(['0', '1', '2', '3', '4'])
    await fs.close()
    expect(under(dir())).toEqual([])
  })

  it('lets go of a directory it removes, so one created again at the path is synced through its own descriptor', async () => {
    const fs = nodeFs.withOpenDirectories!()
    const state = join(dir(), 'state', 'count')
    await fs.writeFileAtomic(join(state, '1.delta'), 'a')
    await fs.remove(join(dir(), 'state'))
    expect(under(dir())).toEqual([])
    await fs.writeFileAtomic(join(state, '2.delta'), 'b')
    expect(under(dir()).filter((t) => t.endsWith('(deleted)'))).toEqual([])
    expect(descriptorsOf(state)).toBe(1)
    await fs.close()
  })

  it('lets go of both sides of a rename', async () => {
    const fs = nodeFs.withOpenDirectories!()
    await fs.writeFileAtomic(join(dir(), 'a', 'f'), 'a')
    await mkdir(join(dir(), 'b'))
    await fs.writeFileAtomic(join(dir(), 'b', 'f'), 'b')
    await fs.remove(join(dir(), 'b'))
    await fs.renameDurable(join(dir(), 'a'), join(dir(), 'b'))
    expect(under(dir()).filter((t) => t.startsWith(join(dir(), 'a')) || t.startsWith(join(dir(), 'b')))).toEqual([])
    await fs.writeFileAtomic(join(dir(), 'b', 'g'), 'c')
    expect(await readFile(join(dir(), 'b', 'f'), 'utf8')).toBe('a')
    await fs.close()
  })

  it('finishes writes still running when it closes, and writes after that open and close their directory', async () => {
    const fs = nodeFs.withOpenDirectories!()
    const logs = join(dir(), 'commits')
    const running = Promise.all([0, 1, 2].map((i) => fs.writeFileAtomic(join(logs, String(i)), `c${i}`)))
    await fs.close()
    await running
    await fs.writeFileAtomic(join(logs, '3'), 'c3')
    expect(under(dir())).toEqual([])
    expect(await readdir(logs)).toEqual(['0', '1', '2', '3'])
  })

  it("keeps the atomic write of a file system built on nodeFs: a fenced member's view still refuses its commit", async () => {
    const fenced = fencedFs(nodeFs, { holds: async () => false }, { task: '0', member: 'm1', epoch: 1 })
    const view = fenced.withOpenDirectories!()
    expect(await rejectionOf(view.writeFileAtomic(join(dir(), 'commits', '0'), 'x'))).toBeInstanceOf(FencedError)
    // The lease is checked just before the rename: the directory may exist by then, but neither the commit nor its
    // temp file is left.
    expect(await readdir(join(dir(), 'commits')).catch(() => [])).toEqual([])
    await view.close()
  })

  it('a checkpointed query (its writes on the writer thread) leaves no descriptor of its directories open once stopped', async () => {
    const input = memorySource<{ v: number }>()
    const q = await createSession()
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: dir() })
      .start()
    for (let i = 0; i < 3; i++) {
      input.addData([{ v: i }])
      await q.processAllAvailable()
    }
    expect(await readdir(join(dir(), 'commits'))).toEqual(['0', '1', '2'])
    await q.stop()
    expect(under(dir())).toEqual([])
  })
})

describe.skipIf(process.platform !== 'linux')('OpenDirectories', () => {
  const dir = useTempDir()

  it('forgets a directory and those under it, not its siblings nor a directory whose name merely starts the same', async () => {
    const dirs = new OpenDirectories()
    const [a, aSub, ab, b] = ['a', join('a', 'sub'), 'ab', 'b'].map((d) => join(dir(), d))
    for (const d of [a, aSub, ab, b]) await mkdir(d, { recursive: true })
    await Promise.all([a, aSub, ab, b, a].map((d) => dirs.fsync(d)))
    expect([a, aSub, ab, b].map(descriptorsOf)).toEqual([1, 1, 1, 1])
    await dirs.forget(`${a}/`)
    expect([a, aSub, ab, b].map(descriptorsOf)).toEqual([0, 0, 1, 1])
    await dirs.forget(join(dir(), 'nothing-open'))
    await dirs.forget(join(b, '..', 'b'))
    expect([a, aSub, ab, b].map(descriptorsOf)).toEqual([0, 0, 1, 0])
    await dirs.fsync(a)
    expect(descriptorsOf(a)).toBe(1)
    await dirs.close()
    expect(under(dir())).toEqual([])
  })

  it('rejects the fsync of a missing directory and opens it afresh once it exists', async () => {
    const dirs = new OpenDirectories()
    const later = join(dir(), 'later')
    expect(await rejectionOf(dirs.fsync(later))).toMatchObject({ code: 'ENOENT', path: later })
    expect(await rejectionOf(dirs.fsync(later))).toMatchObject({ code: 'ENOENT', path: later })
    await mkdir(later)
    await dirs.fsync(later)
    await dirs.fsync(later)
    expect(descriptorsOf(later)).toBe(1)
    await dirs.close()
    expect(descriptorsOf(later)).toBe(0)
  })

  it('after close, fsyncs a directory by opening and closing it, and still rejects a missing one', async () => {
    const dirs = new OpenDirectories()
    await dirs.close()
    await dirs.fsync(dir())
    expect(under(dir())).toEqual([])
    expect(await rejectionOf(dirs.fsync(join(dir(), 'gone')))).toMatchObject({ code: 'ENOENT' })
    await dirs.close()
  })
})
