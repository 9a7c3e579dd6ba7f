import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import * as fsp from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { faultyFs, SimulatedCrash } from '../../src/durable/faultFs.js'
import { decodeCheckpointFile, encodeCheckpointFile, writeCheckpointFile } from '../../src/durable/format.js'
import { nodeFs } from '../../src/durable/fs.js'
import { acquireCheckpointLock } from '../../src/durable/lock.js'
import { ConcurrentQueryError } from '../../src/errors.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** Writes a lock file as another holder would have. */
async function writeLockOf(dir: string, holder: { pid: number; runId: string; hostname?: string }): Promise<void> {
  const body = JSON.stringify({ queryName: 'old', startedAt: '2020-01-01T00:00:00.000Z', hostname: hostname(), ...holder })
  await writeCheckpointFile(nodeFs, join(dir, 'lock'), body)
}

/** The content of the lock file with the highest epoch. */
async function lockHolder(dir: string): Promise<unknown> {
  const epochs = (await fsp.readdir(dir)).filter((n) => /^lock\.\d+$/.test(n)).map((n) => Number(n.slice(5)))
  const path = join(dir, `lock.${Math.max(...epochs)}`)
  return JSON.parse(decodeCheckpointFile(path, await fsp.readFile(path)).body)
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  if (child.pid === undefined) throw new Error('could not spawn node')
  return child.pid
}

describe('acquireCheckpointLock', () => {
  const dir = useTempDir()
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
  })

  it('writes a lock file naming pid, process start, host, runId, query name, start time, epoch and heartbeat', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1', queryName: 'activity' })
    expect(await lockHolder(dir())).toEqual({
      pid: process.pid,
      hostname: hostname(),
      runId: 'run-1',
      queryName: 'activity',
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      epoch: 1,
      procStart: expect.stringMatching(/^\d+$/),
      bootId: expect.any(String),
      heartbeatAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect(lock.epoch).toBe(1)
    await lock.release()
  })

  it('creates the checkpoint directory if it is missing', async () => {
    const lock = await acquireCheckpointLock(nodeFs, join(dir(), 'new', 'ckpt'), { runId: 'run-1' })
    expect(await nodeFs.exists(join(dir(), 'new', 'ckpt', 'lock.1'))).toBe(true)
    await lock.release()
  })

  it('refuses a second query of this process with ConcurrentQueryError naming the holder', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1', queryName: 'first' })
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect(error).toMatchObject({ checkpointLocation: dir(), holder: expect.stringContaining('runId run-1') })
    expect((error as Error).message).toContain('query "first"')
    await lock.release()
  })

  it('lets exactly one of two concurrent acquires in this process win', async () => {
    const results = await Promise.allSettled([
      acquireCheckpointLock(nodeFs, dir(), { runId: 'run-a' }),
      acquireCheckpointLock(nodeFs, dir(), { runId: 'run-b' }),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const rejected = results.find((r) => r.status === 'rejected')
    expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(ConcurrentQueryError)
    for (const r of results) if (r.status === 'fulfilled') await r.value.release()
  })

  it('can be acquired again after release', async () => {
    await (await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })).release()
    expect(await lockHolder(dir())).toMatchObject({ runId: 'run-1', released: true })
    const again = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' })
    expect(again.epoch).toBe(2)
    await again.release()
  })

  it('release twice is harmless', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.release()
    const next = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' })
    await lock.release()
    expect(await lockHolder(dir())).toMatchObject({ runId: 'run-2' })
    await next.release()
  })

  it('release leaves a lock that is no longer ours', async () => {
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    const body = JSON.stringify({ pid: process.pid, hostname: hostname(), runId: 'someone-else', queryName: null, startedAt: '2020-01-01T00:00:00.000Z', epoch: 2 })
    await writeCheckpointFile(nodeFs, join(dir(), 'lock.2'), body)
    await lock.release()
    expect(await lockHolder(dir())).toMatchObject({ runId: 'someone-else' })
  })

  it('takes over a stale lock of a dead process', async () => {
    await writeLockOf(dir(), { pid: await deadPid(), runId: 'killed-run' })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    expect(await lockHolder(dir())).toMatchObject({ runId: 'run-1', pid: process.pid })
    await lock.release()
  })

  it('refuses a lock held by a live process on this host', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    children.push(child)
    await once(child, 'spawn')
    await writeLockOf(dir(), { pid: child.pid ?? -1, runId: 'live-run' })
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as ConcurrentQueryError).holder).toContain(`pid ${child.pid}`)
  })

  it('takes over a lock of this process whose run is not live (crashed in-process without release)', async () => {
    await writeLockOf(dir(), { pid: process.pid, runId: 'vanished-run' })
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.release()
  })

  it('takes over a corrupt lock file', async () => {
    await fsp.writeFile(join(dir(), 'lock'), '{"pid": 12')
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    expect(await lockHolder(dir())).toMatchObject({ runId: 'run-1' })
    await lock.release()
  })

  it('takes over a lock file whose content does not fit the lock codec', async () => {
    await fsp.writeFile(join(dir(), 'lock'), encodeCheckpointFile('{"pid":"x"}'))
    const lock = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' })
    await lock.release()
  })

  it('treats a lock from another host as live, since its process cannot be checked', async () => {
    await writeLockOf(dir(), { pid: 1, runId: 'remote-run', hostname: `not-${hostname()}` })
    const error = await rejectionOf(acquireCheckpointLock(nodeFs, dir(), { runId: 'run-1' }))
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as ConcurrentQueryError).holder).toContain(`not-${hostname()}`)
  })

  it('a restart after a simulated crash takes over the lock once the crashed run released', async () => {
    const fs = faultyFs(nodeFs, { at: 1, kind: 'crashBefore' })
    const crashed = await acquireCheckpointLock(fs, dir(), { runId: 'run-1' })
    expect(await rejectionOf(fs.writeFileAtomic(join(dir(), 'metadata'), 'x'))).toBeInstanceOf(SimulatedCrash)
    expect(await rejectionOf(crashed.release())).toBeInstanceOf(SimulatedCrash)
    const restarted = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' })
    await restarted.release()
  })

  it('a restart takes over a lock file torn by a crash', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(acquireCheckpointLock(fs, dir(), { runId: 'run-1' }))).toBeInstanceOf(SimulatedCrash)
    const restarted = await acquireCheckpointLock(nodeFs, dir(), { runId: 'run-2' })
    expect(await lockHolder(dir())).toMatchObject({ runId: 'run-2' })
    await restarted.release()
  })
})
