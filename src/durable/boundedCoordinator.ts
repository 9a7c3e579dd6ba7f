/**
 * Every call a cluster member makes to its coordinator ends within a bound. A store can leave a call unanswered for
 * long: a connection the server closed while the member was stopped (SIGSTOP, a frozen VM), a network path that
 * drops packets without resetting, a client whose own retries outlast the lease TTL. A member waiting on such a call
 * would neither heartbeat nor renew nor take work, while its tasks' leases lapse; bounded, the call fails with an
 * error naming it and the member goes on with its next heartbeat.
 */
import { CoordinatorStateError, CoordinatorUnavailableError } from '../errors.js'
import { withTimeout } from '../util/timeout.js'
import type { Coordinator, Lease } from './lease.js'

/**
 * How long a bounded coordinator waits for each call, and how its errors name the store.
 * @example const bound: CallBound = { timeoutMs: 2_500, store: 'redis 10.0.0.5:6379' }
 */
export interface CallBound {
  /** The longest a call may take, in ms (a member passes two heartbeats: past that, its leases are at risk). */
  readonly timeoutMs: number
  /** The coordinator as messages name it. */
  readonly store: string
}

/**
 * `inner` with every call bounded: a call that has not answered within `timeoutMs` rejects with
 * {@link CoordinatorUnavailableError} naming the call (`renew(task-3) did not answer within 2500 ms`), and so does a
 * call that failed (the store unreachable through its retries), with the failure as `cause`. A foreign entry in the
 * store ({@link CoordinatorStateError}) is passed on as it is: no retry fixes it. A call that answers after its
 * bound is ignored; whatever it did in the store is safe to ignore (a lease it took lapses after its TTL, a renewal
 * whose answer was lost leaves the member with an older revision, so its next renewal fails and the task is lost).
 * @example const coordinator = boundedCoordinator(redisCoordinator(url).forCluster('orders'), { timeoutMs: 2_500, store: 'redis 10.0.0.5:6379' })
 * @throws RangeError when timeoutMs is not a positive number.
 */
export function boundedCoordinator(inner: Coordinator, bound: CallBound): Coordinator {
  if (!(bound.timeoutMs > 0)) throw new RangeError(`boundedCoordinator: timeoutMs must be a positive number, got ${bound.timeoutMs}`)
  const within = <T>(call: string, answer: () => Promise<T>): Promise<T> => bounded(bound, call, answer)
  return {
    heartbeat: (member) => within(`heartbeat(${member})`, () => inner.heartbeat(member)),
    leave: (member) => within(`leave(${member})`, () => inner.leave(member)),
    members: () => within('members()', () => inner.members()),
    leases: () => within('leases()', () => inner.leases()),
    acquire: (task, member) => within(`acquire(${task})`, () => inner.acquire(task, member)),
    renew: (lease: Lease) => within(`renew(${lease.task})`, () => inner.renew(lease)),
    release: (lease: Lease) => within(`release(${lease.task})`, () => inner.release(lease)),
    holds: (task, member, epoch) => within(`holds(${task}, epoch ${epoch})`, () => inner.holds(task, member, epoch)),
  }
}

/** What a call that did not answer within its bound resolves to inside {@link bounded}. */
const TIMED_OUT = Symbol('timed out')

async function bounded<T>(bound: CallBound, call: string, answer: () => Promise<T>): Promise<T> {
  const answered = (async () => answer())()
  // An answer or a failure after the bound has nobody waiting for it: not an unhandled rejection.
  answered.catch(() => undefined)
  let result: T | typeof TIMED_OUT
  try {
    result = await withTimeout(answered, bound.timeoutMs, TIMED_OUT)
  } catch (e) {
    if (e instanceof CoordinatorUnavailableError || e instanceof CoordinatorStateError) throw e
    throw new CoordinatorUnavailableError(bound.store, call, `failed: ${(e as Error)?.message ?? String(e)}`, e)
  }
  if (result === TIMED_OUT) throw new CoordinatorUnavailableError(bound.store, call, `did not answer within ${bound.timeoutMs} ms`)
  return result
}
