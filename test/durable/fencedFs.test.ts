/**
 * `fencedFs` on a real directory: while the lease is held it changes the checkpoint like the file system it wraps;
 * once the lease is gone it refuses every change (log entries, a source's own log, state files, removals).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeFs } from '../../src/durable/fs.js'
import { fencedFs } from '../../src/durable/lease.js'
import { memoryCoordinator } from '../../src/durable/memoryCoordinator.js'
import { FencedError } from '../../src/errors.js'

const TTL = 100
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** A checkpoint directory, and the file system of a member whose lease on task `t` has just been taken over. */
async function fencedMember() {
  const dir = await mkdtemp(join(tmpdir(), 'srx-fenced-fs-'))
  dirs.push(dir)
  for (const sub of ['offsets', 'commits', 'sources/0', 'state/agg/0']) await mkdir(join(dir, sub), { recursive: true })
  let clock = 0
  const coordinator = memoryCoordinator({ ttlMs: TTL, now: () => clock })
  const lease = (await coordinator.acquire('t', 'old'))!
  const fs = fencedFs(nodeFs, coordinator, { task: 't', member: 'old', epoch: lease.epoch })
  await fs.writeFileAtomic(join(dir, 'sources', '0', '0'), 'while held')
  clock += TTL + 1
  expect(await coordinator.acquire('t', 'new')).toBeDefined()
  return { dir, fs }
}

describe('fencedFs', () => {
  it.each([['offsets/3'], ['commits/3'], ['sources/0/3'], ['sources/0/9.compact'], ['state/agg/0/4.delta']])('refuses a lost lease its write of %s', async (entry) => {
    const { dir, fs } = await fencedMember()
    const path = join(dir, ...entry.split('/'))
    await expect(fs.writeFileAtomic(path, 'stale')).rejects.toBeInstanceOf(FencedError)
    await expect(fs.createExclusive(path, 'stale')).rejects.toBeInstanceOf(FencedError)
    await expect(fs.appendFileDurable(path, 'stale')).rejects.toBeInstanceOf(FencedError)
    await expect(nodeFs.exists(path)).resolves.toBe(false)
  })

  it('refuses a lost lease the removal or replacement of a file its successor wrote', async () => {
    const { dir, fs } = await fencedMember()
    const committed = join(dir, 'state', 'agg', '0', '10.snapshot')
    await nodeFs.writeFileAtomic(committed, 'the successor\'s')
    await expect(fs.remove(committed)).rejects.toBeInstanceOf(FencedError)
    await nodeFs.writeFileAtomic(join(dir, 'stray'), 'stale')
    await expect(fs.renameDurable(join(dir, 'stray'), committed)).rejects.toBeInstanceOf(FencedError)
    expect(await readFile(committed, 'utf8')).toBe('the successor\'s')
  })

  it('changes the checkpoint while the lease is held', async () => {
    const { dir } = await fencedMember()
    expect(await readFile(join(dir, 'sources', '0', '0'), 'utf8')).toBe('while held')
  })
})
