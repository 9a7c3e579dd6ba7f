import type { Coordinator, Lease } from './lease.js'

/**
 * Options of {@link memoryCoordinator}.
 * @example memoryCoordinator({ ttlMs: 5_000, now: () => fakeClock })
 */
export interface MemoryCoordinatorOptions {
  /** How long a lease and a heartbeat last without renewal, in ms of `now`. */
  readonly ttlMs: number
  /** The coordinator's clock (default Date.now); tests pass a fake one to expire leases at will. */
  readonly now?: () => number
}

/**
 * A coordinator held in this process's memory: every operation is one synchronous step, so it is atomic as a real
 * store's compare-and-set is. For members that are workers of one process, and for model-based tests of the lease
 * protocol against the fault-injecting fs; members on several hosts need a shared store (Redis, NATS KV).
 * @example const coordinator = memoryCoordinator({ ttlMs: 5_000 })
 * @throws RangeError when ttlMs is not a positive number.
 */
export function memoryCoordinator(options: MemoryCoordinatorOptions): Coordinator {
  const { ttlMs } = options
  if (!(ttlMs > 0)) throw new RangeError(`memoryCoordinator: ttlMs must be a positive number, got ${ttlMs}`)
  const now = options.now ?? Date.now
  const alive = new Map<string, number>()
  const leases = new Map<string, Lease>()
  let revision = 0
  const fresh = (lease: Lease | undefined): boolean => lease !== undefined && lease.expiresAt > now()
  return {
    async heartbeat(member) {
      alive.set(member, now() + ttlMs)
    },
    async leave(member) {
      alive.delete(member)
    },
    async members() {
      return [...alive].filter(([, until]) => until > now()).map(([m]) => m).sort()
    },
    async leases() {
      return [...leases.values()]
    },
    async acquire(task, member) {
      const current = leases.get(task)
      if (fresh(current)) return undefined
      const lease = { task, member, epoch: (current?.epoch ?? 0) + 1, revision: ++revision, expiresAt: now() + ttlMs }
      leases.set(task, lease)
      return lease
    },
    async renew(lease) {
      const current = leases.get(lease.task)
      if (current === undefined || current.revision !== lease.revision || !fresh(current)) return undefined
      const renewed = { ...current, revision: ++revision, expiresAt: now() + ttlMs }
      leases.set(lease.task, renewed)
      return renewed
    },
    async release(lease) {
      const current = leases.get(lease.task)
      if (current === undefined || current.revision !== lease.revision || !fresh(current)) return false
      // Expired at once, epoch kept: the next owner's acquire raises it.
      leases.set(lease.task, { ...current, revision: ++revision, expiresAt: -Infinity })
      return true
    },
    async holds(task, member, epoch) {
      const current = leases.get(task)
      return current !== undefined && fresh(current) && current.member === member && current.epoch === epoch
    },
  }
}
