/**
 * Leases on Redis: every lease operation is one Lua script, so the compare-and-set on a lease's revision, the
 * expiry test against the server's TIME and the raise of the epoch happen in one atomic step on the server.
 */
import type { Redis } from 'ioredis'
import { CoordinatorStateError } from '../errors.js'
import type { Coordinator, Lease } from './lease.js'
import { closeRedis, connectRedis, isTransientRedisError, redisWhere } from './redisClient.js'
import { ACQUIRE, HEARTBEAT, HOLDS, MEMBERS, RELEASE, RENEW } from './redisLeaseScripts.js'
import { withRetry } from './retry.js'
import {
  checkClusterName,
  type SharedCoordinator,
  sharedCoordinator,
  type SharedCoordinatorOptions,
  sharedCoordinatorOptions,
} from './sharedCoordinator.js'

const SCRIPTS = { srxAcquire: [3, ACQUIRE], srxRenew: [2, RENEW], srxRelease: [2, RELEASE], srxHolds: [1, HOLDS], srxHeartbeat: [1, HEARTBEAT], srxMembers: [1, MEMBERS] } as const
type ScriptName = keyof typeof SCRIPTS
type Scripts = Record<ScriptName, (...keysThenArgs: (string | number)[]) => Promise<unknown>>

/**
 * A coordinator whose leases and heartbeats live in Redis: keys `structured-rx:{<cluster>}:…` (the braces keep a
 * cluster's keys in one slot of a Redis Cluster), TTLs measured by the server's clock.
 * @example
 * stream.writeStream({ …, cluster: { name: 'orders', coordinator: redisCoordinator('redis://10.0.0.5:6379') } })
 * @throws RangeError on a URL that is not `redis://host:port` or invalid options; its coordinators' calls throw
 * ConnectorUnavailableError when Redis stays unreachable through the retries, CoordinatorStateError when a key
 * holds something this library did not write.
 */
export function redisCoordinator(url: string, options?: SharedCoordinatorOptions): SharedCoordinator {
  const description = `redis ${redisWhere(url)}`
  const { ttlMs, retry } = sharedCoordinatorOptions(options, 'redisCoordinator')
  let client: Promise<Redis> | undefined
  let closed = false
  const redis = async (): Promise<Scripts & Redis> => {
    if (closed) throw new Error(`${description}: the coordinator was closed`)
    client ??= connectRedis(url).then((r) => {
      for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) r.defineCommand(name, { numberOfKeys, lua })
      return r
    })
    return (await client) as Scripts & Redis
  }
  return sharedCoordinator({
    description,
    ttlMs,
    forCluster(name) {
      const prefix = `structured-rx:{${checkClusterName(name, 'redisCoordinator')}}:`
      const keys = { revision: `${prefix}revision`, tasks: `${prefix}tasks`, members: `${prefix}members`, lease: (task: string) => `${prefix}lease:${task}` }
      const call = <T>(key: string, run: (r: Scripts & Redis) => Promise<T>): Promise<T> =>
        withRetry(description, retry, isTransientRedisError, async () => {
          try {
            return await run(await redis())
          } catch (e) {
            throw badEntry(e, description, key) ?? e
          }
        })
      return {
        async heartbeat(member) {
          await call(keys.members, (r) => r.srxHeartbeat(keys.members, member, ttlMs))
        },
        async leave(member) {
          await call(keys.members, (r) => r.zrem(keys.members, member))
        },
        async members() {
          return ((await call(keys.members, (r) => r.srxMembers(keys.members))) as string[]).sort()
        },
        async leases() {
          const tasks = (await call(keys.tasks, (r) => r.smembers(keys.tasks))).sort()
          const replies = await call(keys.tasks, (r) => {
            const tx = r.multi()
            for (const task of tasks) tx.hgetall(keys.lease(task))
            return tx.exec()
          })
          return tasks.flatMap((task, i) => {
            const [error, hash] = replies?.[i] ?? [new Error('transaction aborted')]
            if (error) throw badEntry(error, description, keys.lease(task)) ?? error
            return Object.keys(hash as object).length === 0 ? [] : [leaseOf(task, hash as Record<string, string>, description, keys.lease(task))]
          })
        },
        async acquire(task, member) {
          const reply = (await call(keys.lease(task), (r) => r.srxAcquire(keys.lease(task), keys.revision, keys.tasks, task, member, ttlMs))) as number[] | null
          if (reply === null) return undefined
          const [epoch, revision, expiresAt] = reply as [number, number, number]
          return { task, member, epoch, revision, expiresAt }
        },
        async renew(lease) {
          const reply = (await call(keys.lease(lease.task), (r) => r.srxRenew(keys.lease(lease.task), keys.revision, lease.revision, ttlMs))) as number[] | null
          if (reply === null) return undefined
          const [revision, expiresAt] = reply as [number, number]
          return { ...lease, revision, expiresAt }
        },
        async release(lease) {
          return (await call(keys.lease(lease.task), (r) => r.srxRelease(keys.lease(lease.task), keys.revision, lease.revision))) === 1
        },
        async holds(task, member, epoch) {
          return (await call(keys.lease(task), (r) => r.srxHolds(keys.lease(task), member, epoch))) === 1
        },
      } satisfies Coordinator
    },
    async close() {
      closed = true
      if (client !== undefined) await closeRedis(await client)
    },
  })
}

/** A lease read back from its hash, or CoordinatorStateError naming the field that is not ours. */
function leaseOf(task: string, hash: Record<string, string>, store: string, key: string): Lease {
  const number = (field: string): number => {
    const n = Number(hash[field])
    if (hash[field] === undefined || !Number.isSafeInteger(n)) throw new CoordinatorStateError(store, key, `${field} is ${JSON.stringify(hash[field])}`)
    return n
  }
  if (typeof hash.member !== 'string') throw new CoordinatorStateError(store, key, 'it names no member')
  return { task, member: hash.member, epoch: number('epoch'), revision: number('revision'), expiresAt: number('expiresAt') }
}

/** A Redis refusal caused by a foreign entry at `key` (a wrong type, a field a script cannot read), as our error. */
function badEntry(error: unknown, store: string, key: string): CoordinatorStateError | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined
  const m = /SRX_BAD_ENTRY ([^\n]*?)(?: script:|$)|^(WRONGTYPE .*)/.exec(error.message)
  return m === null ? undefined : new CoordinatorStateError(store, key, (m[1] ?? m[2])!.trim())
}
