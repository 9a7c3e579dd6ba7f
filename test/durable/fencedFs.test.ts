/**
 * `fencedFs` on a real directory: once a member's lease is gone, it refuses every write of an entry recovery reads
 * (offsets, commits, a source's own log and its compaction) and lets other writes pass.
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
  it.each([['offsets/3'], ['commits/3'], ['sources/0/3'], ['sources/0/9.compact']])('refuses a lost lease its write of %s', async (entry) => {
    const { dir, fs } = await fencedMember()
    const path = join(dir, ...entry.split('/'))
    await expect(fs.writeFileAtomic(path, 'stale')).rejects.toBeInstanceOf(FencedError)
    await expect(fs.createExclusive(path, 'stale')).rejects.toBeInstanceOf(FencedError)
    await expect(nodeFs.exists(path)).resolves.toBe(false)
  })

  it('lets a lost lease write what recovery does not read without a commit (state files), and wrote the log while held', async () => {
    const { dir, fs } = await fencedMember()
    await fs.writeFileAtomic(join(dir, 'state', 'agg', '0', '4.delta'), 'stray')
    expect(await readFile(join(dir, 'state', 'agg', '0', '4.delta'), 'utf8')).toBe('stray')
    expect(await readFile(join(dir, 'sources', '0', '0'), 'utf8')).toBe('while held')
  })
})
