/**
 * The claim of a checkpoint lock at its edges: which old lock files it removes once it holds the next epoch, a file
 * it created that a faster process already went past, a lock file gone between listing and reading, and the bounded
 * number of rounds it tries while others keep taking the same stale lock over.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeCheckpointFile } from '../../src/durable/format.js'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { acquireCheckpointLock, readLockHolder } from '../../src/durable/lock.js'
import { CheckpointLockLostError, ConcurrentQueryError } from '../../src/errors.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** Writes `name` as the released lock of an earlier run (stale whoever reads it). */
async function releasedLock(dir: string, name: string, epoch?: number, runId = `old-${name}`, released = true): Promise<void> {
  const body = { pid: process.pid, hostname: hostname(), runId, queryName: null, startedAt: '2020-01-01T00:00:00.000Z', epoch, released }
  await writeCheckpointFile(nodeFs, join(dir, name), JSON.stringify(body))
}

const sorted = async (dir: string) => (await readdir(dir)).sort()

describe('acquireCheckpointLock claiming the next epoch', () => {
  const dir = useTempDir()

  it('removes the lock files two epochs back and a legacy lock, keeping the one just below and every other file', async () => {
    await releasedLock(dir(), 'lock')
    await releasedLock(dir(), 'lock.1', 1)
    await releasedLock(dir(), 'lock.2', 2)
    await releasedLock(dir(), 'lock.3', 3)
    await writeCheckpointFile(nodeFs, join(dir(), 'lock.tmp'), 'other')
    await writeCheckpointFile(nodeFs, join(dir(), 'metadata'), '{}')
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-4' })
    expect(lock.epoch).toBe(4)
    expect(await sorted(dir())).toEqual(['lock.3', 'lock.4', 'lock.tmp', 'metadata'])
    await lock.release()
  })

  it('takes over a released legacy lock at epoch 1 and keeps it, as the file just below', async () => {
    await releasedLock(dir(), 'lock')
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    expect(lock.epoch).toBe(1)
    expect(await sorted(dir())).toEqual(['lock', 'lock.1'])
    await lock.release()
    const next = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' })
    expect(next.epoch).toBe(2)
    expect(await sorted(dir())).toEqual(['lock.1', 'lock.2'])
    await next.release()
  })

  it('removes the file it created when a faster process already went past it, and claims the epoch after', async () => {
    const steps: string[] = []
    let raced = false
    const fs: CheckpointFs = {
      ...nodeFs,
      async createExclusive(path, data) {
        steps.push(`create ${path}`)
        const created = await nodeFs.createExclusive(path, data)
        if (!raced) {
          raced = true
          // Another process, which listed after us, took the lock at the epoch after ours and released it.
          await releasedLock(dir(), 'lock.2', 2)
        }
        return created
      },
      remove: async (path) => {
        steps.push(`remove ${path}`)
        await nodeFs.remove(path)
      },
    }
    const lock = await acquireCheckpointLock(fs, dir(), { runId: 'run-3' })
    expect(lock.epoch).toBe(3)
    // Removed at once, before the next round: not left for the clean-up of old epochs.
    expect(steps).toEqual([`create ${join(dir(), 'lock.1')}`, `remove ${join(dir(), 'lock.1')}`, `create ${join(dir(), 'lock.3')}`])
    expect(await sorted(dir())).toEqual(['lock.2', 'lock.3'])
    await lock.release()
  })

  it('lists again when the top lock file is gone by the time it is read', async () => {
    await releasedLock(dir(), 'lock.1', 1)
    const reads: string[] = []
    const fs: CheckpointFs = {
      ...nodeFs,
      async readFile(path) {
        reads.push(path)
        if (reads.length === 1) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' })
        return nodeFs.readFile(path)
      },
    }
    const lock = await acquireCheckpointLock(fs, dir(), { runId: 'run-2' })
    expect(lock.epoch).toBe(2)
    expect(reads).toEqual([join(dir(), 'lock.1'), join(dir(), 'lock.1')])
    await lock.release()
  })

  it('gives up after four rounds lost to other processes, naming the checkpoint, and lets the run try again later', async () => {
    await releasedLock(dir(), 'lock.1', 1)
    const attempts: string[] = []
    const losing: CheckpointFs = {
      ...nodeFs,
      async createExclusive(path) {
        attempts.push(path)
        return false
      },
    }
    const error = await rejectionOf(acquireCheckpointLock(losing, dir(), { runId: 'run-2' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as Error).message).toBe(
      `checkpoint ${dir()} is in use by another running query (other processes are taking over the same stale lock right now); ` +
        'stop it first (a lock held on another host is taken over once its heartbeat stops)',
    )
    expect(attempts).toEqual(Array(4).fill(join(dir(), 'lock.2')))
    expect(await sorted(dir())).toEqual(['lock.1'])
    // The failed claim unregistered the run: an unreleased lock of this process naming it is no longer live.
    await releasedLock(dir(), 'lock.1', 1, 'run-2', false)
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-3' })
    expect(lock.epoch).toBe(2)
    await lock.release()
  })
})

describe('a held checkpoint lock', () => {
  const dir = useTempDir()
  const lost = (epoch: number, to: string) =>
    `this run lost the lock of checkpoint ${dir()} (epoch ${epoch}) to ${to}: it stops without committing, and the batch it was running is re-run by the new holder`

  it('is lost to nobody once released, and its file is marked released', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.assertHeld()
    await lock.release()
    const error = await rejectionOf(lock.assertHeld())
    expect(error).toBeInstanceOf(CheckpointLockLostError)
    expect((error as Error).message).toBe(lost(1, 'nobody: this run released it (it stopped)'))
    expect(await readLockHolder(nodeFs, dir())).toBeUndefined()
    await lock.release()
  })

  it('is lost to the run named by the next epoch\'s file, or to "a later run" when that file is unreadable', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await writeFile(join(dir(), 'lock.2'), 'torn')
    expect((await rejectionOf(lock.assertHeld())) as Error).toMatchObject({ message: lost(1, 'a later run'), epoch: 1 })
    expect(await readLockHolder(nodeFs, dir())).toBe('unreadable')
    await releasedLock(dir(), 'lock.2', 2, 'run-2', false)
    expect(((await rejectionOf(lock.assertHeld())) as Error).message).toBe(
      lost(1, `runId run-2, pid ${process.pid} on ${hostname()}, since 2020-01-01T00:00:00.000Z`),
    )
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-2', epoch: 2 })
    // Its release leaves the successor's lock and its own file as they are.
    const own = await readFile(join(dir(), 'lock.1'))
    await lock.release()
    expect((await readFile(join(dir(), 'lock.1'))).equals(own)).toBe(true)
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-2' })
  })

  it('is lost when its own file is gone or names another run', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await rm(join(dir(), 'lock.1'))
    expect(((await rejectionOf(lock.assertHeld())) as Error).message).toBe(lost(1, "a later run (this run's lock file is gone)"))
    await releasedLock(dir(), 'lock.1', 1, 'run-9', false)
    expect(((await rejectionOf(lock.assertHeld())) as Error).message).toBe(lost(1, "a later run (this run's lock file is gone)"))
    await lock.release()
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-9' })
  })

  it('readLockHolder answers undefined for a checkpoint without a lock', async () => {
    expect(await readLockHolder(nodeFs, dir())).toBeUndefined()
  })
})
