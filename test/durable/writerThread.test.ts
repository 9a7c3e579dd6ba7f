/**
 * The writer thread does a checkpoint's atomic writes off the query's thread: each file appears whole or not at all,
 * a write ordered after others appears only once they have succeeded (and never when one failed), and a failed write
 * leaves no temp file behind.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { nodeFs, writeFileAtomicAfter } from '../../src/durable/fs.js'
import { fencedFs } from '../../src/durable/lease.js'
import { FencedError } from '../../src/errors.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** A promise settled from outside. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

/** Every entry of `dir`, temp files included. */
const allEntries = (dir: string) => readdir(dir)

describe('nodeFs.withWriterThread', () => {
  const dir = useTempDir()

  it('writes files atomically through the thread, creating missing directories, and leaves no temp file', async () => {
    const fs = nodeFs.withWriterThread!()
    const offsets = join(dir(), 'offsets')
    await Promise.all([0, 1, 2].map((i) => fs.writeFileAtomic(join(offsets, String(i)), `batch ${i}`)))
    await fs.writeFileAtomic(join(offsets, '1'), 'batch 1 again')
    expect(await allEntries(offsets)).toEqual(['0', '1', '2'])
    expect(await readFile(join(offsets, '1'), 'utf8')).toBe('batch 1 again')
    await fs.close()
  })

  it('makes a file ordered after another write appear only once that write has resolved', async () => {
    const fs = nodeFs.withWriterThread!()
    const gate = deferred()
    const commit = join(dir(), 'commits', '0')
    mkdirSync(join(dir(), 'commits'))
    const written = fs.writeFileAtomicAfter!(commit, 'c0', [gate.promise])
    await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(commit)).toBe(false)
    gate.resolve()
    await written
    expect(await readFile(commit, 'utf8')).toBe('c0')
    await fs.close()
  })

  it('orders a write after one of its own still in flight inside the thread, and both land', async () => {
    const fs = nodeFs.withWriterThread!()
    mkdirSync(join(dir(), 'state'))
    mkdirSync(join(dir(), 'commits'))
    const state = fs.writeFileAtomic(join(dir(), 'state', '0.delta'), 'x'.repeat(200_000))
    const commit = fs.writeFileAtomicAfter!(join(dir(), 'commits', '0'), 'c0', [state])
    await commit
    // Once the commit is there, the state file it follows is too, whole.
    expect((await readFile(join(dir(), 'state', '0.delta'), 'utf8')).length).toBe(200_000)
    await state
    await fs.close()
  })

  it('never writes a file whose predecessor in the thread failed, rejects with that failure and leaves no temp file', async () => {
    const fs = nodeFs.withWriterThread!()
    // The state "directory" is a file: the state write fails (ENOTDIR), so the commit after it must not appear.
    writeFileSync(join(dir(), 'state'), 'not a directory')
    mkdirSync(join(dir(), 'commits'))
    const state = fs.writeFileAtomic(join(dir(), 'state', '0.delta'), 'delta')
    const commit = fs.writeFileAtomicAfter!(join(dir(), 'commits', '0'), 'c0', [state])
    const [stateError, commitError] = await Promise.all([rejectionOf(state), rejectionOf(commit)])
    expect(stateError).toMatchObject({ code: 'ENOTDIR' })
    expect(commitError).toBe(stateError)
    expect(await allEntries(join(dir(), 'commits'))).toEqual([])
    await fs.close()
  })

  it('never writes a file ordered after a promise that rejected elsewhere, and rejects with its reason', async () => {
    const fs = nodeFs.withWriterThread!()
    mkdirSync(join(dir(), 'commits'))
    const gate = deferred()
    const commit = fs.writeFileAtomicAfter!(join(dir(), 'commits', '0'), 'c0', [gate.promise])
    const reason = new Error('state write failed')
    gate.reject(reason)
    expect(await rejectionOf(commit)).toBe(reason)
    expect(await allEntries(join(dir(), 'commits'))).toEqual([])
    await fs.close()
  })

  it('names the file of a failed write and keeps its code', async () => {
    const fs = nodeFs.withWriterThread!()
    mkdirSync(join(dir(), 'offsets', '3'), { recursive: true })
    // A non-empty directory where the file should go: the rename fails.
    writeFileSync(join(dir(), 'offsets', '3', 'x'), 'x')
    const error = await rejectionOf(fs.writeFileAtomic(join(dir(), 'offsets', '3'), 'o3'))
    expect(error).toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) })
    expect(String((error as Error).message)).toContain(join(dir(), 'offsets', '3'))
    expect(await allEntries(join(dir(), 'offsets'))).toEqual(['3'])
    await fs.close()
  })
})

describe('withWriterThread over a file system built on nodeFs', () => {
  const dir = useTempDir()

  it("keeps that file system's own atomic write: a fenced member's view still refuses its commit, ordered or not", async () => {
    const fenced = fencedFs(nodeFs, { holds: async () => false }, { task: '0', member: 'm1', epoch: 1 })
    const view = fenced.withWriterThread!()
    expect(await rejectionOf(view.writeFileAtomic(join(dir(), 'commits', '0'), 'x'))).toBeInstanceOf(FencedError)
    expect(await rejectionOf(writeFileAtomicAfter(view, join(dir(), 'commits', '1'), 'x', [Promise.resolve()]))).toBeInstanceOf(FencedError)
    // The lease is checked just before the rename: the directory may exist by then, but no commit nor temp file.
    expect(await readdir(join(dir(), 'commits')).catch(() => [])).toEqual([])
    await view.close()
  })
})

describe('writeFileAtomicAfter on a file system without ordered writes', () => {
  const dir = useTempDir()

  it('waits for every promise first and writes nothing when one rejects', async () => {
    const plain = { ...nodeFs, withWriterThread: undefined, writeFileAtomicAfter: undefined }
    const gate = deferred()
    const path = join(dir(), 'commits', '0')
    const written = writeFileAtomicAfter(plain, path, 'c0', [gate.promise, Promise.resolve()])
    await new Promise((r) => setTimeout(r, 20))
    expect(existsSync(path)).toBe(false)
    gate.resolve()
    await written
    expect(await readFile(path, 'utf8')).toBe('c0')
    const reason = new Error('no')
    expect(await rejectionOf(writeFileAtomicAfter(plain, join(dir(), 'commits', '1'), 'c1', [Promise.reject(reason)]))).toBe(reason)
    expect(existsSync(join(dir(), 'commits', '1'))).toBe(false)
  })
})
