/**
 * The lock against pid reuse, hosts that cannot be checked, and runs that wake up after being judged stale.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { writeCheckpointFile } from '../../src/durable/format.js'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { acquireCheckpointLock, readLockHolder } from '../../src/durable/lock.js'
import { processIdentity } from '../../src/durable/processIdentity.js'
import { CheckpointLockLostError, ConcurrentQueryError } from '../../src/errors.js'
import { createSession, memorySink, memorySource, StreamingQueryError } from '../../src/index.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** A lock file as a holder wrote it (a plain `lock` is what an older version, or epoch 0, looks like). */
async function writeLock(dir: string, name: string, holder: Record<string, unknown>): Promise<void> {
  const body = { queryName: 'old', startedAt: '2020-01-01T00:00:00.000Z', hostname: hostname(), ...holder }
  await writeCheckpointFile(nodeFs, join(dir, name), JSON.stringify(body))
}

describe('checkpoint lock: who is really alive', () => {
  const dir = useTempDir()
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
  })

  async function liveUnrelatedPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    children.push(child)
    await once(child, 'spawn')
    return child.pid!
  }

  it('takes over a lock whose pid now belongs to another process (a different start time)', async () => {
    await writeLock(dir(), 'lock', { pid: await liveUnrelatedPid(), runId: 'before-reboot', procStart: '1' })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-1' })
    await lock.release()
  })

  it('refuses a lock whose live pid has the start time the lock names: it is the holder', async () => {
    const pid = await liveUnrelatedPid()
    const { procStart } = processIdentity(pid)
    expect(procStart).toMatch(/^\d+$/)
    await writeLock(dir(), 'lock', { pid, runId: 'same-process', procStart })
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as ConcurrentQueryError).holder).toContain(`runId same-process, pid ${pid}`)
  })

  it('takes over a lock from another host whose heartbeat is older than the bound', async () => {
    const old = new Date(Date.now() - 120_000).toISOString()
    await writeLock(dir(), 'lock', { pid: 1, runId: 'remote', hostname: `not-${hostname()}`, heartbeatAt: old })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }, { staleAfterMs: 60_000 })
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-1' })
    await lock.release()
  })

  it('refuses a lock from another host whose heartbeat is recent', async () => {
    await writeLock(dir(), 'lock', { pid: 1, runId: 'remote', hostname: `not-${hostname()}`, heartbeatAt: new Date().toISOString() })
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }, { staleAfterMs: 60_000 }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
  })

  it('counts a heartbeat exactly staleAfterMs old as live, and one a millisecond older as stale', async () => {
    // Only Date is faked: the lock compares the heartbeat with Date.now(); its own timers and file calls stay real.
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const now = Date.parse('2030-06-01T12:00:00.000Z')
      vi.setSystemTime(now)
      const remote = { pid: 1, runId: 'remote', hostname: `not-${hostname()}` }
      await writeLock(dir(), 'lock', { ...remote, heartbeatAt: new Date(now - 30_000).toISOString() })
      const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }, { staleAfterMs: 30_000 }))
      expect(error).toBeInstanceOf(ConcurrentQueryError)
      expect((error as ConcurrentQueryError).holder).toContain('remote')
      await writeLock(dir(), 'lock', { ...remote, heartbeatAt: new Date(now - 30_001).toISOString() })
      const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }, { staleAfterMs: 30_000 })
      expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-1', heartbeatAt: '2030-06-01T12:00:00.000Z' })
      await lock.release()
    } finally {
      vi.useRealTimers()
    }
  })

  it('takes over a lock of this host written before a reboot (another boot id), though its pid is alive again', async () => {
    const { bootId } = processIdentity(process.pid)
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/)
    const pid = await liveUnrelatedPid()
    // The same boot: the live pid with no start time to compare is the holder, so the lock is refused.
    await writeLock(dir(), 'lock', { pid, runId: 'this-boot', bootId })
    expect(await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }))).toBeInstanceOf(ConcurrentQueryError)
    await writeLock(dir(), 'lock', { pid, runId: 'before-reboot', bootId: '00000000-0000-0000-0000-000000000000' })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'run-1', bootId })
    await lock.release()
  })

  it('keeps a run live while any of its locks is held: two checkpoints under one runId, one released', async () => {
    const other = join(dir(), 'other')
    const first = await acquireCheckpointLock(nodeFs, join(dir(), 'one'), { runId: 'shared-run' })
    const second = await acquireCheckpointLock(nodeFs, other, { runId: 'shared-run' })
    await first.release()
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, other, { runId: 'run-2' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as ConcurrentQueryError).holder).toContain('runId shared-run')
    await second.release()
    // Once both are released, the run is gone: a lock file of it left unreleased no longer blocks anyone.
    await writeLock(dir(), 'lock', { pid: process.pid, runId: 'shared-run' })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-3' })
    await lock.release()
  })

  it('keeps its heartbeat fresh while held', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }, { heartbeatMs: 20 })
    const first = (await readLockHolder(nodeFs, dir())) as { heartbeatAt: string }
    await new Promise((resolve) => setTimeout(resolve, 300))
    const later = (await readLockHolder(nodeFs, dir())) as { heartbeatAt: string }
    expect(Date.parse(later.heartbeatAt)).toBeGreaterThan(Date.parse(first.heartbeatAt))
    await lock.release()
  })
})

describe('checkpoint lock: fencing', () => {
  const dir = useTempDir()

  it('tells a run that was taken over that it lost the lock', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.assertHeld()
    // Another process judged this run stale (say it was paused) and took the next epoch.
    await writeLock(dir(), `lock.${lock.epoch + 1}`, { pid: 1, runId: 'successor', epoch: lock.epoch + 1 })
    const error = await rejectionOf(lock.assertHeld())
    expect(error).toBeInstanceOf(CheckpointLockLostError)
    expect((error as Error).message).toContain('successor')
    await lock.release()
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'successor' })
  })

  it('fails a fenced-off query at its next commit, with a clear error, committing nothing more', async () => {
    const input = memorySource<{ v: number }>()
    const q = await createSession()
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: dir() })
      .start()
    input.addData([{ v: 1 }])
    await q.processAllAvailable()
    const epochs = (await readdir(dir())).filter((n) => /^lock\.\d+$/.test(n)).map((n) => Number(n.slice(5)))
    const next = Math.max(...epochs) + 1
    await writeLock(dir(), `lock.${next}`, { pid: 1, runId: 'successor', epoch: next })
    input.addData([{ v: 2 }])
    const error = await q.awaitTermination(30_000).catch((e: unknown) => e)
    await q.stop()
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as StreamingQueryError).cause).toBeInstanceOf(CheckpointLockLostError)
    expect(await readdir(join(dir(), 'commits'))).toEqual(['0'])
  })

  it('fences a run whose lock file was removed and created again by another run at the same epoch', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.assertHeld()
    // No successor epoch exists, so only the content of this epoch's file tells that it is someone else's now.
    await rm(join(dir(), `lock.${lock.epoch}`))
    await writeLock(dir(), `lock.${lock.epoch}`, { pid: process.pid, runId: 'intruder', epoch: lock.epoch })
    const error = await rejectionOf(lock.assertHeld())
    expect(error).toBeInstanceOf(CheckpointLockLostError)
    await lock.release()
    expect(await readLockHolder(nodeFs, dir())).toMatchObject({ runId: 'intruder' })
  })

  it('fences a run whose lock file is gone', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.assertHeld()
    await rm(join(dir(), `lock.${lock.epoch}`))
    expect(await rejectionOf(lock.assertHeld())).toBeInstanceOf(CheckpointLockLostError)
    await lock.release()
  })

  it('reads its own lock file again only after it was rewritten, checking with lookups in between', async () => {
    // Reads of this run's lock file (epoch 1 in a fresh directory), by path or through a pinned descriptor.
    const own = join(dir(), 'lock.1')
    let reads = 0
    const pinFile = nodeFs.pinFile!
    const counting: CheckpointFs = {
      ...nodeFs,
      readFile: (path) => ((reads += path === own ? 1 : 0), nodeFs.readFile(path)),
      pinFile: async (path) => {
        const pin = await pinFile(path)
        return { ...pin, read: () => ((reads += path === own ? 1 : 0), pin.read()) }
      },
    }
    const lock = await acquireCheckpointLock(counting, dir(), { runId: 'run-1' })
    expect(lock.epoch).toBe(1)
    reads = 0
    for (let i = 0; i < 5; i++) await lock.assertHeld()
    expect(reads).toBe(1)
    // What the heartbeat does: the same holder, written again atomically (a new file at the same path).
    await nodeFs.writeFileAtomic(own, await nodeFs.readFile(own))
    for (let i = 0; i < 5; i++) await lock.assertHeld()
    expect(reads).toBe(2)
    await lock.release()
  })
})
