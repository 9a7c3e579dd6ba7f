/**
 * What the coordinators in a shared store (Redis, NATS JetStream KV) have in common: one connection serves any
 * number of clusters, each cluster's leases and heartbeats live under its own name, and lease time is measured by
 * the store's clock, never by a member's, so members on hosts whose clocks disagree still agree on expiry.
 */
import type { Coordinator } from './lease.js'
import { type RetryOptions, retryPolicy } from './retry.js'

/**
 * Options of `redisCoordinator` and `natsCoordinator`.
 * @example redisCoordinator('redis://10.0.0.5:6379', { ttlMs: 10_000, retry: { attempts: 3 } })
 */
export interface SharedCoordinatorOptions {
  /**
   * How long a lease and a member's heartbeat last without renewal, in ms of the store's clock (default 10 000).
   * Members should heartbeat and renew a few times per TTL; a member silent for longer loses its tasks.
   */
  readonly ttlMs?: number
  /** How each call to the store is retried while it is unreachable (default 5 attempts, 50 ms doubling to 1 s). */
  readonly retry?: RetryOptions
}

/**
 * A coordinator in a store that members on many hosts share. Used as a `Coordinator` it works in the cluster named
 * `default`; {@link SharedCoordinator.forCluster} gives another cluster its own keys (Redis) or bucket (NATS). The
 * connection opens on first use and is shared by every cluster; `close()` ends it.
 * @example const coordinator = redisCoordinator('redis://10.0.0.5:6379').forCluster('orders')
 */
export interface SharedCoordinator extends Coordinator {
  /** The store, without credentials, for messages: `redis 10.0.0.5:6379`, `nats-server nats://…`. */
  readonly description: string
  /** The lease and heartbeat TTL in ms; members heartbeat and renew well within it (a third of it, say). */
  readonly ttlMs: number
  /**
   * The coordinator of cluster `name`: every member that passes the same name shares its leases.
   * @throws RangeError when the name is not 1–64 letters, digits, `-` or `_`.
   */
  forCluster(name: string): Coordinator
  /** Closes the connection; later calls of any cluster's coordinator fail. */
  close(): Promise<void>
}

/** The cluster a shared coordinator works in when used directly as a `Coordinator`. */
export const DEFAULT_CLUSTER = 'default'

/**
 * A shared coordinator from its parts: the operations of `Coordinator` are those of cluster {@link DEFAULT_CLUSTER}.
 * @example return sharedCoordinator({ description, ttlMs, forCluster, close })
 * @throws never (the default cluster name is valid).
 */
export function sharedCoordinator(parts: Omit<SharedCoordinator, keyof Coordinator>): SharedCoordinator {
  return { ...parts.forCluster(DEFAULT_CLUSTER), ...parts }
}

/** The default lease TTL: long enough for a loaded machine's pauses, short enough that a crash costs seconds. */
export const DEFAULT_LEASE_TTL_MS = 10_000

/** Coordinator calls retry briefly: past a TTL of waiting the leases are gone anyway. */
const COORDINATOR_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 50, maxDelayMs: 1000 }

/**
 * Checks shared-coordinator options and fills in the defaults; `what` names the coordinator in messages.
 * @example const { ttlMs, retry } = sharedCoordinatorOptions(options, 'redisCoordinator')
 * @throws RangeError on a TTL that is not a positive integer or on invalid retry options.
 */
export function sharedCoordinatorOptions(
  options: SharedCoordinatorOptions | undefined,
  what: string,
): { ttlMs: number; retry: Required<RetryOptions> } {
  const ttlMs = options?.ttlMs ?? DEFAULT_LEASE_TTL_MS
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`${what}: ttlMs must be a positive integer, got ${ttlMs}`)
  return { ttlMs, retry: retryPolicy({ ...COORDINATOR_RETRY, ...options?.retry }, what) }
}

/**
 * Checks a cluster name: it becomes part of Redis keys and a NATS bucket name, so both stores accept the same names.
 * @example checkClusterName('orders-eu', 'redisCoordinator') // 'orders-eu'
 * @throws RangeError naming the coordinator and the name when it is not 1–64 letters, digits, `-` or `_`.
 */
export function checkClusterName(name: string, what: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new RangeError(`${what}: cluster name must be 1-64 letters, digits, '-' or '_', got ${JSON.stringify(name)}`)
  }
  return name
}

/**
 * The coordinator of `cluster` from what a user passed as `cluster.coordinator`: a shared one is bound to the name,
 * an in-process one (`memoryCoordinator`) is used as it is.
 * @example const coordinator = coordinatorFor(options.cluster.coordinator, options.cluster.name)
 * @throws RangeError from `forCluster` on an invalid cluster name.
 */
export function coordinatorFor(coordinator: Coordinator | SharedCoordinator, cluster: string): Coordinator {
  return 'forCluster' in coordinator ? coordinator.forCluster(cluster) : coordinator
}
