/**
 * Leases on tasks, the way a cluster of members shares a query's tasks: a member holds a task while its lease is
 * fresh (a heartbeat renews it before its TTL runs out), a lease changes hands only by compare-and-set on its
 * revision, and every change of owner raises the task's epoch. A commit carries the epoch it was made under and is
 * checked where it is written ({@link fencedFs}), so a member that lost its lease while paused cannot commit.
 */
import { FencedError } from '../errors.js'
import type { CheckpointFs } from './fs.js'
import type { CheckpointLock } from './lock.js'

/**
 * One task's lease as the coordinator stores it.
 * @example const lease = await coordinator.acquire('task-3', 'm1') // { task, member, epoch, revision, expiresAt } or undefined
 */
export interface Lease {
  readonly task: string
  readonly member: string
  /** Raised each time the task changes owner; commits carry it. */
  readonly epoch: number
  /** Raised on every write of this lease: the compare-and-set token. */
  readonly revision: number
  /** Coordinator clock time after which the lease is free to take. */
  readonly expiresAt: number
}

/**
 * Where members agree on who runs which task. Implementations keep every operation atomic on the store (a
 * compare-and-set on revisions), so two members can never both hold one task in one epoch.
 * @example const coordinator: Coordinator = memoryCoordinator({ ttlMs: 5_000 })
 */
export interface Coordinator {
  /** Records that `member` is alive until now + TTL (its heartbeat). */
  heartbeat(member: string): Promise<void>
  /** Removes `member` from the live members (a clean leave). */
  leave(member: string): Promise<void>
  /** The members whose heartbeat is fresh, sorted. */
  members(): Promise<string[]>
  /** The stored lease of every task that has one (expired or not). */
  leases(): Promise<Lease[]>
  /** Takes `task` for `member` if it has no lease or its lease expired, with the next epoch; undefined if taken. */
  acquire(task: string, member: string): Promise<Lease | undefined>
  /** Extends a held lease by the TTL if its revision is unchanged and it has not expired; undefined if lost. */
  renew(lease: Lease): Promise<Lease | undefined>
  /** Gives a held lease up (compare-and-set on its revision); false if it was already lost. */
  release(lease: Lease): Promise<boolean>
  /** Whether `member` holds an unexpired lease on `task` at `epoch`: the fence a commit must pass. */
  holds(task: string, member: string, epoch: number): Promise<boolean>
}

/**
 * How many tasks each live member should run: `tasks / members`, the first `tasks mod members` members (in sorted
 * order) one more, so that shares differ by at most one and every member computes the same answer.
 * @example fairShares(['a', 'b'], 5) // Map { 'a' => 3, 'b' => 2 }
 * @throws never.
 */
export function fairShares(members: readonly string[], tasks: number): Map<string, number> {
  const sorted = [...members].sort()
  const base = Math.floor(tasks / Math.max(1, sorted.length))
  const extra = tasks - base * sorted.length
  return new Map(sorted.map((m, i) => [m, base + (i < extra ? 1 : 0)]))
}

/**
 * A file system for one task's checkpoint that refuses every change to it — a write, an append, a rename, a removal
 * — unless the coordinator confirms, just before it, that `member` still holds the task at `epoch`. Not only the
 * offsets and commit logs: a member paused mid-batch or mid-recovery and resumed after its successor committed
 * would otherwise write over the state files of batches the successor committed, rewrite a file source's list of a
 * batch, or (recovering) remove the state files newer than the last commit it had read, which are now committed.
 *
 * The coordinator's "holds" is true at the instant it answers; a member paused after that instant (SIGSTOP, a
 * swapped-out or overloaded host) and resumed past its TTL would still act on it, removing or replacing files its
 * successor committed meanwhile. So an answer counts only if it came within `timing.maxAnswerAgeMs` of asking (on a
 * monotonic clock, which runs on while the process is stopped), and the change is issued in the same turn; an older
 * one is asked again. `maxAnswerAgeMs` must stay below the time a fresh lease has left (a cluster passes two
 * heartbeats, about half the TTL); the only step left unchecked is the synchronous hand-over of the change to the OS.
 * An atomic write asks after its data is written and synced, right before the rename that makes it visible.
 * @example const fs = fencedFs(nodeFs, coordinator, { task: '3', member: 'm1', epoch: lease.epoch }, { maxAnswerAgeMs: 1_000 })
 * @throws FencedError from any change once the lease was lost.
 */
export function fencedFs(inner: CheckpointFs, coordinator: Pick<Coordinator, 'holds'>, fence: { task: string; member: string; epoch: number }, timing: FenceTiming = {}): CheckpointFs {
  const guard = freshHold(coordinator, fence, timing)
  const fenced: CheckpointFs = {
    ...inner,
    async writeFileAtomic(path, data, beforeReplace) {
      // Checked where the file is replaced, not before its data is written: a member stopped while its temp file is
      // written and synced, and resumed past its TTL, would otherwise replace a file its successor has committed.
      let checked = false
      await inner.writeFileAtomic(path, data, async () => {
        await guard()
        checked = true
        if (beforeReplace !== undefined) await beforeReplace()
      })
      if (!checked) throw new Error(`fencedFs: the wrapped file system replaced ${path} without calling beforeReplace, so the lease could not be checked there; a cluster's checkpoint needs a CheckpointFs whose writeFileAtomic calls it (nodeFs and s3Fs do)`)
    },
    async appendFileDurable(path, data) {
      await guard()
      return inner.appendFileDurable(path, data)
    },
    async renameDurable(from, to) {
      await guard()
      return inner.renameDurable(from, to)
    },
    async createExclusive(path, data) {
      await guard()
      return inner.createExclusive(path, data)
    },
    async remove(path) {
      await guard()
      return inner.remove(path)
    },
  }
  const sweep = inner.sweepTempFiles?.bind(inner)
  if (sweep !== undefined) fenced.sweepTempFiles = async (root) => (await guard(), sweep(root))
  return fenced
}

/**
 * The checkpoint lock of a task run under a lease: held as long as the coordinator says `member` holds the task at
 * `epoch`. It stands in for the lock file in a cluster, where a paused member's process is alive (so its lock file
 * would look fresh) but its lease has gone to another member. Releasing does nothing: the member gives the lease
 * back itself, after the task stopped.
 * @example openCheckpoint(fs, location, fresh, owner, retention, () => Promise.resolve(leaseLock(coordinator, fence)))
 * @throws FencedError from `assertHeld` once the lease was lost.
 */
export function leaseLock(coordinator: Pick<Coordinator, 'holds'>, fence: { task: string; member: string; epoch: number }, timing: FenceTiming = {}): CheckpointLock {
  return {
    epoch: fence.epoch,
    assertHeld: freshHold(coordinator, fence, timing),
    async release() {},
  }
}

/**
 * How old a coordinator's "holds" answer may be when a fenced change acts on it.
 * @example const timing: FenceTiming = { maxAnswerAgeMs: 2 * heartbeatMs }
 */
export interface FenceTiming {
  /** An answer that took longer than this from asking is asked again (default 1000 ms). */
  readonly maxAnswerAgeMs?: number
  /** A monotonic clock in ms (default `performance.now`); tests pass one they advance. */
  readonly clock?: () => number
}

/** Resolves once the coordinator confirmed, within `maxAnswerAgeMs` of asking, that the fence's member holds its task. */
function freshHold(coordinator: Pick<Coordinator, 'holds'>, fence: { task: string; member: string; epoch: number }, timing: FenceTiming): () => Promise<void> {
  const maxAge = timing.maxAnswerAgeMs ?? 1_000
  const clock = timing.clock ?? (() => performance.now())
  return async () => {
    for (;;) {
      const asked = clock()
      if (!(await coordinator.holds(fence.task, fence.member, fence.epoch))) throw new FencedError(fence.task, fence.member, fence.epoch)
      // Nothing awaits between this check and the caller's change: a fresh answer is acted on in this turn.
      if (clock() - asked <= maxAge) return
    }
  }
}
