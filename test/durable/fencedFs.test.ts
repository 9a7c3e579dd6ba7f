/**
 * `fencedFs` on a real directory: while the lease is held it changes the checkpoint like the file system it wraps;
 * once the lease is gone it refuses every change (log entries, a source's own log, state files, removals), also when
 * the member was paused after the coordinator said it held the lease and resumed once its successor had taken it.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { type Coordinator, fencedFs, leaseLock } from '../../src/durable/lease.js'
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

/** A checkpoint directory, and a lease on task `t` that `member` has just taken, on a coordinator clock the test moves. */
async function heldBy(member: string) {
  const dir = await mkdtemp(join(tmpdir(), 'srx-fenced-fs-'))
  dirs.push(dir)
  const time = { clock: 0 }
  const coordinator = memoryCoordinator({ ttlMs: TTL, now: () => time.clock })
  const lease = (await coordinator.acquire('t', member))!
  return { dir, coordinator, lease, time }
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

  it('refuses a change whose "holds" answer was given before the member paused past its TTL and its successor took over', async () => {
    const { dir, coordinator, lease, time } = await heldBy('old')
    const committed = join(dir, 'state', 'agg', '10.snapshot')
    let pauses = 1
    // The coordinator answers "held"; then the process stops (SIGSTOP) before it acts on the answer, and while it is
    // stopped the lease expires, a successor takes it, and writes (commits) the file the old member is about to remove.
    const pausing: Pick<Coordinator, 'holds'> = {
      async holds(task, member, epoch) {
        const answer = await coordinator.holds(task, member, epoch)
        if (pauses-- > 0) {
          time.clock += TTL + 1
          expect(await coordinator.acquire('t', 'new')).toBeDefined()
          await nodeFs.writeFileAtomic(committed, "the successor's")
        }
        return answer
      },
    }
    const fence = { task: 't', member: 'old', epoch: lease.epoch }
    const fs = fencedFs(nodeFs, pausing, fence, { maxAnswerAgeMs: TTL / 2, clock: () => time.clock })
    await expect(fs.remove(committed)).rejects.toBeInstanceOf(FencedError)
    expect(await readFile(committed, 'utf8')).toBe("the successor's")
    pauses = 1
    const lock = leaseLock(pausing, { task: 't', member: 'new', epoch: lease.epoch + 1 }, { maxAnswerAgeMs: TTL / 2, clock: () => time.clock })
    // The successor itself paused past its TTL in its check before a commit: asked again, it is refused too.
    await expect(lock.assertHeld()).rejects.toBeInstanceOf(FencedError)
  })

  it('checks the lease after an atomic write\'s data is synced, right before the rename: a member paused while writing cannot replace its successor\'s file', async () => {
    const { dir, coordinator, lease, time } = await heldBy('old')
    const offsets = join(dir, 'offsets', '3')
    // The member is stopped once its temp file is written and synced; meanwhile its lease expires, and the successor
    // takes the task and commits its own offsets/3.
    const stoppedMidWrite: CheckpointFs = {
      ...nodeFs,
      writeFileAtomic: (path, data, beforeReplace) =>
        nodeFs.writeFileAtomic(path, data, async () => {
          time.clock += TTL + 1
          expect(await coordinator.acquire('t', 'new')).toBeDefined()
          await nodeFs.writeFileAtomic(offsets, "the successor's")
          await beforeReplace?.()
        }),
    }
    const fs = fencedFs(stoppedMidWrite, coordinator, { task: 't', member: 'old', epoch: lease.epoch })
    await expect(fs.writeFileAtomic(offsets, 'stale')).rejects.toBeInstanceOf(FencedError)
    expect(await readFile(offsets, 'utf8')).toBe("the successor's")
    expect(await readdir(join(dir, 'offsets'))).toEqual(['3'])
  })

  it('refuses a wrapped file system whose atomic write never calls beforeReplace (the lease could not be checked)', async () => {
    const { dir, coordinator, lease } = await heldBy('m')
    const ignoresHook: CheckpointFs = { ...nodeFs, writeFileAtomic: (path, data) => nodeFs.writeFileAtomic(path, data) }
    const fs = fencedFs(ignoresHook, coordinator, { task: 't', member: 'm', epoch: lease.epoch })
    await expect(fs.writeFileAtomic(join(dir, 'offsets', '0'), 'x')).rejects.toThrow(/without calling beforeReplace/)
  })

  it('acts on a "holds" answer that came within maxAnswerAgeMs, asking again after a slow one', async () => {
    const { dir, coordinator, lease, time } = await heldBy('m')
    let asked = 0
    const slowOnce: Pick<Coordinator, 'holds'> = {
      async holds(task, member, epoch) {
        // The first answer takes longer than maxAnswerAgeMs (a loaded host), though the lease is still fresh.
        if (asked++ === 0) time.clock += TTL / 2 + 1
        return coordinator.holds(task, member, epoch)
      },
    }
    const fs = fencedFs(nodeFs, slowOnce, { task: 't', member: 'm', epoch: lease.epoch }, { maxAnswerAgeMs: TTL / 2, clock: () => time.clock })
    await fs.writeFileAtomic(join(dir, 'offsets', '0'), 'held')
    expect(asked).toBe(2)
    expect(await readFile(join(dir, 'offsets', '0'), 'utf8')).toBe('held')
  })
})
