/**
 * The lock of a checkpoint location: `<checkpointLocation>/lock`, created exclusively by the running query, so two
 * queries never write one checkpoint, while a lock left behind by a killed process does not block a restart.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { ConcurrentQueryError } from '../errors.js'
import { type CheckpointFs, errorCode } from './fs.js'
import { decodeCheckpointFile, encodeCheckpointFile } from './format.js'

/** Who holds the lock. */
export interface CheckpointLockOwner {
  readonly runId: string
  readonly queryName?: string
}

/** A held lock. */
export interface CheckpointLock {
  /**
   * Unregisters the run, then removes the lock file if it is still this run's. Safe to call twice. Call it after
   * a crash too (even a simulated one whose fs now rejects everything): a run that never releases stays "live" in
   * this process and keeps blocking restarts here.
   * @throws the file-system error of reading or removing the lock file; the run is unregistered regardless.
   */
  release(): Promise<void>
}

const LockFileCodec = t.type({
  pid: t.number,
  hostname: t.string,
  runId: t.string,
  queryName: t.union([t.string, t.null]),
  startedAt: t.string,
})
type LockFile = t.TypeOf<typeof LockFileCodec>

/** Who a lock file names: pid, hostname, runId, queryName, startedAt. */
export type LockHolder = LockFile

/**
 * runIds of the queries of this process that hold (or are taking) a lock, with a count in case a caller reuses a
 * runId; the pid alone cannot tell two queries of one process apart.
 */
const liveRunIds = new Map<string, number>()

function register(runId: string): void {
  liveRunIds.set(runId, (liveRunIds.get(runId) ?? 0) + 1)
}

function unregister(runId: string): void {
  const count = liveRunIds.get(runId) ?? 0
  if (count <= 1) liveRunIds.delete(runId)
  else liveRunIds.set(runId, count - 1)
}

function describe(holder: LockFile): string {
  const name = holder.queryName === null ? '' : `query "${holder.queryName}", `
  return `${name}runId ${holder.runId}, pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}`
}

/** The lock file's raw bytes and holder, `undefined` holder if it does not parse, `undefined` if it is gone. */
async function readLock(fs: CheckpointFs, path: string): Promise<{ raw: Buffer; holder: LockFile | undefined } | undefined> {
  let raw: Buffer
  try {
    raw = await fs.readFile(path)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  }
  try {
    const decoded = LockFileCodec.decode(JSON.parse(decodeCheckpointFile(path, raw).body))
    return { raw, holder: decoded._tag === 'Right' ? decoded.right : undefined }
  } catch {
    // A lock torn by a crash, or from a newer format: its writer is gone or will recreate it; judge it stale.
    return { raw, holder: undefined }
  }
}

/** Whether the holder may still be running. A lock from another host cannot be checked, so it is assumed live. */
function isLive(holder: LockFile): boolean {
  if (holder.hostname !== hostname()) return true
  if (holder.pid === process.pid) return liveRunIds.has(holder.runId)
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(error) !== 'ESRCH'
  }
}

/**
 * Creates the lock file, taking over a stale one at most once.
 * @throws ConcurrentQueryError when a live holder has it, or another restart takes over the same stale lock.
 */
async function createLockFile(fs: CheckpointFs, checkpointDir: string, path: string, contents: string): Promise<void> {
  let tookOverStale = false
  // A few rounds only cover a lock released or replaced between our steps; each round ends or throws otherwise.
  for (let round = 0; round < 3; round++) {
    if (await fs.createExclusive(path, contents)) return
    const existing = await readLock(fs, path)
    if (existing === undefined) continue
    const { raw, holder } = existing
    if (holder !== undefined && isLive(holder)) throw new ConcurrentQueryError(checkpointDir, describe(holder))
    if (tookOverStale) break
    // Re-read just before removing, so we do not delete a lock another restart created since our first read.
    const again = await readLock(fs, path)
    if (again !== undefined && !again.raw.equals(raw)) continue
    await fs.remove(path)
    tookOverStale = true
  }
  throw new ConcurrentQueryError(checkpointDir, 'another process is taking over the same stale lock right now')
}

/**
 * Takes the lock of `checkpointDir` for `owner`, writing `{ pid, hostname, runId, queryName, startedAt }` to
 * `<checkpointDir>/lock` (a checkpoint file, like every file there). A lock whose holder is dead (its pid is gone on
 * this host, or it is this process and the run has released or never registered) or that does not parse is
 * stale: it is removed and the lock taken, once.
 * @example
 * const lock = await acquireCheckpointLock(nodeFs, checkpointLocation, { runId, queryName: 'activity' })
 * try { await runQuery() } finally { await lock.release() }
 * @throws ConcurrentQueryError naming the holder when a live query holds the lock (or wins a race for a stale
 * one); a lock written on another host is treated as live, since its process cannot be checked from here.
 * @throws the file-system error of creating, reading or removing the lock file.
 */
/**
 * Who holds the lock of a checkpoint, without judging whether that holder is alive (a starting query does that).
 * @returns the holder, 'unreadable' for a torn or foreign lock file, undefined when there is no lock.
 * @throws file-system errors other than a missing file.
 */
export async function readLockHolder(fs: CheckpointFs, checkpointDir: string): Promise<LockHolder | 'unreadable' | undefined> {
  const lock = await readLock(fs, join(checkpointDir, 'lock'))
  if (lock === undefined) return undefined
  return lock.holder ?? 'unreadable'
}

export async function acquireCheckpointLock(
  fs: CheckpointFs,
  checkpointDir: string,
  owner: CheckpointLockOwner,
): Promise<CheckpointLock> {
  const path = join(checkpointDir, 'lock')
  const mine: LockFile = {
    pid: process.pid,
    hostname: hostname(),
    runId: owner.runId,
    queryName: owner.queryName ?? null,
    startedAt: new Date().toISOString(),
  }
  const contents = encodeCheckpointFile(JSON.stringify(mine))

  // Registered before the file exists, so a concurrent acquire in this process never sees our lock as stale.
  register(owner.runId)
  try {
    await createLockFile(fs, checkpointDir, path, contents)
  } catch (error) {
    unregister(owner.runId)
    throw error
  }

  let released = false
  return {
    async release() {
      if (released) return
      released = true
      unregister(owner.runId)
      const current = await readLock(fs, path)
      if (current?.holder?.runId === owner.runId && current.holder.pid === process.pid) await fs.remove(path)
    },
  }
}
