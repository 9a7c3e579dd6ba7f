/**
 * The lock of a checkpoint location, so two queries never write one checkpoint while a lock left behind by a killed
 * process does not block a restart.
 *
 * The lock is a sequence of files `<checkpoint>/lock.<epoch>`; the one with the highest epoch names the holder. A
 * run takes the lock by creating the next epoch's file exclusively (a hard link of a complete temp file, so no reader
 * ever sees half of it): of several processes taking over the same stale holder, exactly one creates that file and
 * the others back off. Files are never reused (a release leaves a `released` file behind), so a run that was judged
 * stale and woke up later finds a higher epoch, or its own file gone, and is fenced off: every commit checks that
 * the lock is still its own. The holder rewrites its file every few seconds (a heartbeat), which is how a lock
 * written on another host is judged stale; on this host the pid and the process's start time decide.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { CheckpointLockLostError, ConcurrentQueryError } from '../errors.js'
import { type CheckpointFs, errorCode, type PinnedFile } from './fs.js'
import { encodeCheckpointFile } from './format.js'
import { describe, type LockFile, type LockHolder, parseLock, readLock } from './lockFile.js'
import { processIdentity } from './processIdentity.js'

export type { LockHolder } from './lockFile.js'

/** Who holds the lock. */
export interface CheckpointLockOwner {
  readonly runId: string
  readonly queryName?: string
}

/** Timing of the lock's heartbeat. */
export interface LockTiming {
  /** How often the holder rewrites its lock file (default 5 s). */
  readonly heartbeatMs?: number
  /** A lock from another host whose heartbeat is older than this is stale (default 60 s). */
  readonly staleAfterMs?: number
}

/** A held lock. */
export interface CheckpointLock {
  /** The epoch of this hold: one more than the hold it followed. */
  readonly epoch: number
  /**
   * Checks that the lock is still this run's (no later epoch took it over), before a commit.
   * @throws CheckpointLockLostError when another run has taken the lock over.
   */
  assertHeld(): Promise<void>
  /**
   * Stops the heartbeat, unregisters the run, then marks the lock file released if it is still this run's. Safe to
   * call twice. Call it after a crash too (even a simulated one whose fs now rejects everything): a run that never
   * releases stays "live" in this process and keeps blocking restarts here.
   * @throws the file-system error of reading or writing the lock file; the run is unregistered regardless.
   */
  release(): Promise<void>
}

const DEFAULT_HEARTBEAT_MS = 5_000
const DEFAULT_STALE_AFTER_MS = 60_000
const LEGACY_LOCK = 'lock'
const EPOCH_FILE = /^lock\.(\d+)$/

const epochPath = (dir: string, epoch: number) => join(dir, epoch === 0 ? LEGACY_LOCK : `lock.${epoch}`)

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

/** The highest epoch with a lock file (0 for a plain `lock` file of an older version), or -1 for none. */
async function topEpoch(fs: CheckpointFs, dir: string): Promise<number> {
  const names = await fs.readdir(dir)
  const epochs = names.map((n) => EPOCH_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]))
  if (epochs.length > 0) return Math.max(...epochs)
  return names.includes(LEGACY_LOCK) ? 0 : -1
}

/** Whether the holder may still be running. */
function isLive(holder: LockFile, staleAfterMs: number): boolean {
  if (holder.released === true) return false
  if (holder.hostname !== hostname()) {
    // Another host's process cannot be checked; its heartbeat can (an older version's lock has none: assumed live).
    return holder.heartbeatAt === undefined || Date.now() - Date.parse(holder.heartbeatAt) <= staleAfterMs
  }
  const here = processIdentity(holder.pid)
  if (holder.bootId != null && here.bootId !== null && holder.bootId !== here.bootId) return false
  if (holder.pid === process.pid) return liveRunIds.has(holder.runId)
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if (errorCode(error) === 'ESRCH') return false
  }
  // The pid is taken, but by the holder only if it is the same process: pids are reused.
  return holder.procStart == null || here.procStart === null || holder.procStart === here.procStart
}

/**
 * Who holds the lock of a checkpoint, without judging whether that holder is alive (a starting query does that).
 * @example const holder = await readLockHolder(nodeFs, '/ckpt/activity')
 * @returns the holder, 'unreadable' for a torn or foreign lock file, undefined when there is no lock or it was released.
 * @throws file-system errors other than a missing file.
 */
export async function readLockHolder(fs: CheckpointFs, checkpointDir: string): Promise<LockHolder | 'unreadable' | undefined> {
  const top = await topEpoch(fs, checkpointDir)
  if (top < 0) return undefined
  const holder = await readLock(fs, epochPath(checkpointDir, top))
  return holder !== 'unreadable' && holder?.released === true ? undefined : holder
}

/**
 * Takes the lock of `checkpointDir` for `owner` by creating `<checkpointDir>/lock.<epoch>` (a checkpoint file naming
 * pid, process start time, host, runId, query name, epoch and heartbeat). A holder that is dead (its pid is gone or
 * now belongs to another process on this host, its heartbeat on another host is older than `staleAfterMs`, or it is
 * this process and the run has released or never registered), released, or unreadable is stale and is taken over.
 * @example
 * const lock = await acquireCheckpointLock(nodeFs, checkpointLocation, { runId, queryName: 'activity' })
 * try { await runQuery() } finally { await lock.release() }
 * @throws ConcurrentQueryError naming the holder when a live query holds the lock, or another process won the race
 * for a stale one.
 * @throws the file-system error of creating or reading the lock files.
 */
export async function acquireCheckpointLock(
  fs: CheckpointFs,
  checkpointDir: string,
  owner: CheckpointLockOwner,
  timing: LockTiming = {},
): Promise<CheckpointLock> {
  const staleAfterMs = timing.staleAfterMs ?? DEFAULT_STALE_AFTER_MS
  const startedAt = new Date().toISOString()
  const contents = (epoch: number, extra: Partial<LockFile> = {}): string => {
    const mine: LockFile = {
      pid: process.pid,
      hostname: hostname(),
      runId: owner.runId,
      queryName: owner.queryName ?? null,
      startedAt,
      epoch,
      ...processIdentity(process.pid),
      heartbeatAt: new Date().toISOString(),
      ...extra,
    }
    return encodeCheckpointFile(JSON.stringify(mine))
  }
  // Registered before the file exists, so a concurrent acquire in this process never sees our lock as stale.
  register(owner.runId)
  let epoch: number
  try {
    epoch = await claim(fs, checkpointDir, staleAfterMs, contents)
  } catch (error) {
    unregister(owner.runId)
    throw error
  }
  return new HeldLock(fs, checkpointDir, owner.runId, epoch, contents, timing.heartbeatMs ?? DEFAULT_HEARTBEAT_MS)
}

/** Creates the next epoch's lock file; returns its epoch. */
async function claim(fs: CheckpointFs, dir: string, staleAfterMs: number, contents: (epoch: number) => string): Promise<number> {
  // Each round either ends, throws, or follows a change another process made between our steps.
  for (let round = 0; round < 4; round++) {
    const top = await topEpoch(fs, dir)
    if (top >= 0) {
      const holder = await readLock(fs, epochPath(dir, top))
      if (holder === undefined) continue
      if (holder !== 'unreadable' && isLive(holder, staleAfterMs)) throw new ConcurrentQueryError(dir, describe(holder))
    }
    const epoch = Math.max(top, 0) + 1
    // Exactly one process creates this epoch's file; the others see it live in their next round and back off.
    if (!(await fs.createExclusive(epochPath(dir, epoch), contents(epoch)))) continue
    if ((await topEpoch(fs, dir)) > epoch) {
      // A process that listed later already went past us: our file is of no use to anyone.
      await fs.remove(epochPath(dir, epoch))
      continue
    }
    // Files two epochs back are no longer needed to fence anyone off (the one just below is).
    for (const name of await fs.readdir(dir)) {
      const m = EPOCH_FILE.exec(name)
      if ((m !== null && Number(m[1]) <= epoch - 2) || (name === LEGACY_LOCK && epoch >= 2)) await fs.remove(join(dir, name))
    }
    return epoch
  }
  throw new ConcurrentQueryError(dir, 'other processes are taking over the same stale lock right now')
}

class HeldLock implements CheckpointLock {
  private released = false
  private readonly timer: NodeJS.Timeout
  private beating: Promise<void> = Promise.resolve()
  /** This run's lock file as last verified, kept open (see `verifyOwnFile`). */
  private pin: PinnedFile | undefined

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    private readonly runId: string,
    readonly epoch: number,
    private readonly contents: (epoch: number, extra?: Partial<LockFile>) => string,
    heartbeatMs: number,
  ) {
    this.timer = setInterval(() => {
      this.beating = this.beating.then(() => this.beat())
    }, heartbeatMs)
    this.timer.unref()
  }

  /** Rewrites the lock file with a fresh heartbeat while it is still ours; a lost lock stops the heartbeat. */
  private async beat(): Promise<void> {
    if (this.released) return
    try {
      await this.assertHeld()
      await this.fs.writeFileAtomic(epochPath(this.dir, this.epoch), this.contents(this.epoch))
    } catch {
      // A lost lock or a failing disk: the next commit's check reports it to the query.
      clearInterval(this.timer)
    }
  }

  async assertHeld(): Promise<void> {
    if (this.released) throw new CheckpointLockLostError(this.dir, this.epoch, 'nobody: this run released it (it stopped)')
    // Both lookups at once: a successor's file fences this run off whatever its own file says.
    const [successor, stillMine] = await Promise.all([
      readLock(this.fs, epochPath(this.dir, this.epoch + 1)),
      this.pin?.stillAt() ?? Promise.resolve(false),
    ])
    if (successor !== undefined) {
      throw new CheckpointLockLostError(this.dir, this.epoch, successor === 'unreadable' ? 'a later run' : describe(successor))
    }
    if (!stillMine) await this.verifyOwnFile()
  }

  /**
   * Reads this run's lock file and checks that it names this run. Where the file system can pin files, the file
   * read is kept open: until it is replaced (by this run's heartbeat) or removed, its path naming that same file is
   * proof enough, one lstat instead of a read and a decode before every commit.
   */
  private async verifyOwnFile(): Promise<void> {
    const path = epochPath(this.dir, this.epoch)
    let pin: PinnedFile | undefined
    let mine: LockFile | 'unreadable' | undefined
    if (this.fs.pinFile === undefined) {
      mine = await readLock(this.fs, path)
    } else {
      pin = await this.fs.pinFile(path).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT') return undefined
        throw error
      })
      mine = await pin?.read().then((raw) => parseLock(path, raw)).catch(async (error: unknown) => {
        await pin!.release().catch(() => undefined)
        throw error
      })
    }
    if (mine === undefined || mine === 'unreadable' || mine.runId !== this.runId) {
      await pin?.release()
      throw new CheckpointLockLostError(this.dir, this.epoch, 'a later run (this run\'s lock file is gone)')
    }
    // A check still running when the lock was released keeps no descriptor open.
    const previous = this.released ? pin : this.pin
    if (!this.released) this.pin = pin
    await previous?.release()
  }

  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    clearInterval(this.timer)
    unregister(this.runId)
    await this.beating
    await this.pin?.release()
    const current = await readLock(this.fs, epochPath(this.dir, this.epoch))
    const successor = await this.fs.exists(epochPath(this.dir, this.epoch + 1))
    if (current !== undefined && current !== 'unreadable' && current.runId === this.runId && !successor) {
      await this.fs.writeFileAtomic(epochPath(this.dir, this.epoch), this.contents(this.epoch, { released: true }))
    }
  }
}
