/**
 * Leases on NATS JetStream KV, one bucket per cluster (`structured-rx-cluster-<name>`, history 1). Changes of a
 * lease are compare-and-set on the entry's revision (`create`, `update`), so of two members racing for a task
 * exactly one write lands.
 *
 * Time: KV has no server-side expiry test, so a lease carries its TTL and expires TTL after the server stored it
 * (the entry's timestamp, set by the server). To ask "has it expired?" a member needs the server's present time,
 * which it reads by writing a `clock` key and reading back that entry's timestamp. Every decision thus compares two
 * timestamps of one server clock; a member's wall clock is never used, so skewed hosts still agree. (With a
 * replicated bucket the stream leader stamps entries, so a leader change can move the clock by the servers' skew:
 * keep the servers' clocks synchronised, as JetStream itself expects.) Reads go to the stream leader, not to
 * replicas that may lag.
 */
import type { KV, KvEntry } from '@nats-io/kv'
import { CoordinatorStateError } from '../errors.js'
import type { Coordinator, Lease } from './lease.js'
import { connectNats, isTransientNatsError, type NatsClient } from './natsClient.js'
import { withRetry } from './retry.js'
import {
  checkClusterName,
  type SharedCoordinator,
  sharedCoordinator,
  type SharedCoordinatorOptions,
  sharedCoordinatorOptions,
} from './sharedCoordinator.js'

/** What a lease or a heartbeat entry (epoch 0) holds; the server's timestamp of the entry says when it was written. */
interface Stored {
  readonly member: string
  readonly epoch: number
  /** Lifetime from the entry's timestamp; 0 for a released lease. */
  readonly ttlMs: number
}

const CLOCK = 'clock'

/**
 * Options of {@link natsCoordinator}.
 * @example natsCoordinator(['nats://10.0.0.5:4222'], { ttlMs: 10_000, replicas: 3 })
 */
export interface NatsCoordinatorOptions extends SharedCoordinatorOptions {
  /** Replicas of each cluster's bucket when this member creates it (default 1; 3 on a NATS cluster in production). */
  readonly replicas?: number
}

/**
 * A coordinator whose leases and heartbeats live in a JetStream KV bucket per cluster on `servers` (nats-server
 * 2.9 or later with JetStream on), with TTLs measured by the server's clock.
 * @example
 * stream.writeStream({ …, cluster: { name: 'orders', coordinator: natsCoordinator('nats://10.0.0.5:4222') } })
 * @throws RangeError on invalid options (TTL, retry, replicas); its coordinators' calls throw ConnectorUnavailableError when no server
 * answers through the retries, CoordinatorStateError when an entry holds something this library did not write.
 */
export function natsCoordinator(servers: string | readonly string[], options?: NatsCoordinatorOptions): SharedCoordinator {
  const description = `nats-server ${typeof servers === 'string' ? servers : servers.join(',')}`
  const { ttlMs, retry } = sharedCoordinatorOptions(options, 'natsCoordinator')
  const replicas = options?.replicas ?? 1
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new RangeError(`natsCoordinator: replicas must be an integer from 1 to 5, got ${replicas}`)
  }
  let client: Promise<NatsClient> | undefined
  let closed = false
  const connection = (): Promise<NatsClient> => {
    if (closed) return Promise.reject(new Error(`${description}: the coordinator was closed`))
    client ??= connectNats(servers).catch((e: unknown) => {
      client = undefined
      throw e
    })
    return client
  }
  return sharedCoordinator({
    description,
    ttlMs,
    forCluster(name) {
      const bucket = `structured-rx-cluster-${checkClusterName(name, 'natsCoordinator')}`
      const store = `${description} bucket ${bucket}`
      let opened: Promise<KV> | undefined
      const kv = (): Promise<KV> =>
        (opened ??= connection()
          .then(async (c) => {
            const kvm = new (await import('@nats-io/kv')).Kvm(c.js)
            const options = { history: 1, replicas, allow_direct: false }
            // Members of a new cluster may create its bucket at the same moment: the stream of the one that loses
            // the race is refused as overlapping the winner's (or as a name in use), and opening again finds it made.
            return kvm.create(bucket, options).catch((e: unknown) => (lostCreateRace(e) ? kvm.create(bucket, options) : Promise.reject(e)))
          })
          .catch((e: unknown) => {
            opened = undefined
            throw e
          }))
      const call = async <T>(run: (kv: KV) => Promise<T>): Promise<T> => withRetry(store, retry, isTransientNatsError, async () => run(await kv()))
      return bucketCoordinator(call, store, ttlMs)
    },
    async close() {
      closed = true
      if (client !== undefined) await (await client).nc.close()
    },
  })
}

/** Whether JetStream refused a bucket's stream because another member created it at the same moment. */
function lostCreateRace(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return code === 10065 || code === 10058
}

/** The lease protocol on one bucket; `call` runs a step with the bucket, retrying while the server is away. */
function bucketCoordinator(call: <T>(run: (kv: KV) => Promise<T>) => Promise<T>, store: string, ttlMs: number): Coordinator {
  const read = (kv: KV, key: string): Promise<{ entry: KvEntry; stored: Stored } | undefined> =>
    kv.get(key).then((entry) => (entry === null || entry.operation !== 'PUT' ? undefined : { entry, stored: decode(entry, store) }))
  const write = (stored: Stored): string => JSON.stringify(stored)
  /** The server's present time: the timestamp of an entry written now. */
  const serverNow = async (kv: KV): Promise<number> => {
    await kv.put(CLOCK, '1')
    return (await kv.get(CLOCK))!.created.getTime()
  }
  const expiry = (e: { entry: KvEntry; stored: Stored }): number => e.entry.created.getTime() + e.stored.ttlMs
  /** When the write of `revision` to `key` was stamped, or undefined when another write already replaced it. */
  const stampOf = async (kv: KV, key: string, revision: number): Promise<number | undefined> => {
    const entry = await kv.get(key)
    return entry !== null && entry.revision === revision ? entry.created.getTime() : undefined
  }
  return {
    heartbeat: (member) => call(async (kv) => void (await kv.put(memberKey(member), write({ member, epoch: 0, ttlMs })))),
    leave: (member) => call((kv) => kv.delete(memberKey(member))),
    members: () =>
      call(async (kv) => {
        const entries = (await Promise.all((await listKeys(kv, 'member.>')).map((key) => read(kv, key)))).filter((e) => e !== undefined)
        const now = await serverNow(kv)
        // A member that stopped beating without leaving is forgotten, unless it beat again since it was read.
        const gone = entries.filter((e) => now >= expiry(e))
        await Promise.all(gone.map((e) => casOrUndefined(kv.delete(e.entry.key, { previousSeq: e.entry.revision }))))
        return entries.flatMap((e) => (now < expiry(e) ? [e.stored.member] : [])).sort()
      }),
    leases: () =>
      call(async (kv) => {
        const entries = await Promise.all((await listKeys(kv, 'lease.>')).map((key) => read(kv, key)))
        return entries
          .flatMap((e) => (e === undefined ? [] : [leaseOf(e.entry, e.stored)]))
          .sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0))
      }),
    acquire: (task, member) =>
      call(async (kv) => {
        const key = leaseKey(task)
        const current = await read(kv, key)
        // The clock is read after the lease: if the lease had expired by then, the compare-and-set below proves
        // nobody renewed it since.
        if (current !== undefined && (await serverNow(kv)) < expiry(current)) return undefined
        const epoch = (current?.stored.epoch ?? 0) + 1
        const value = write({ member, epoch, ttlMs })
        const revision = await casOrUndefined(current === undefined ? kv.create(key, value) : kv.update(key, value, current.entry.revision))
        const at = revision === undefined ? undefined : await stampOf(kv, key, revision)
        return at === undefined ? undefined : { task, member, epoch, revision: revision!, expiresAt: at + ttlMs }
      }),
    renew: (lease) =>
      call(async (kv) => {
        const key = leaseKey(lease.task)
        const revision = await casOrUndefined(kv.update(key, write({ member: lease.member, epoch: lease.epoch, ttlMs }), lease.revision))
        const at = revision === undefined ? undefined : await stampOf(kv, key, revision)
        if (at === undefined) return undefined
        if (at >= lease.expiresAt) {
          // It had expired before this write: the member lost it even though nobody took it yet, so it is given up.
          await casOrUndefined(kv.update(key, write({ member: lease.member, epoch: lease.epoch, ttlMs: 0 }), revision!))
          return undefined
        }
        return { ...lease, revision: revision!, expiresAt: at + ttlMs }
      }),
    release: (lease) =>
      call(async (kv) => {
        const key = leaseKey(lease.task)
        const revision = await casOrUndefined(kv.update(key, write({ member: lease.member, epoch: lease.epoch, ttlMs: 0 }), lease.revision))
        if (revision === undefined) return false
        const at = await stampOf(kv, key, revision)
        return at === undefined || at < lease.expiresAt
      }),
    holds: (task, member, epoch) =>
      call(async (kv) => {
        const current = await read(kv, leaseKey(task))
        if (current === undefined || current.stored.member !== member || current.stored.epoch !== epoch) return false
        return (await serverNow(kv)) < expiry(current)
      }),
  }
}

/** What a compare-and-set write returned (the revision it landed at), or undefined when another write came first. */
async function casOrUndefined<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write
  } catch (e) {
    if (e instanceof Error && e.name === 'JetStreamApiError' && /wrong last sequence/i.test(e.message)) return undefined
    throw e
  }
}

function leaseOf(entry: KvEntry, stored: Stored): Lease {
  const task = decodeToken(entry.key.slice('lease.'.length))
  return { task, member: stored.member, epoch: stored.epoch, revision: entry.revision, expiresAt: entry.created.getTime() + stored.ttlMs }
}

function decode(entry: KvEntry, store: string): Stored {
  let value: unknown
  try {
    value = entry.json()
  } catch {
    throw new CoordinatorStateError(store, entry.key, 'its value is not JSON')
  }
  const v = value as Partial<Stored> | null
  if (typeof v !== 'object' || v === null || typeof v.member !== 'string' || !Number.isSafeInteger(v.epoch) || !Number.isSafeInteger(v.ttlMs)) {
    throw new CoordinatorStateError(store, entry.key, `its value ${JSON.stringify(value)} is not { member, epoch, ttlMs }`)
  }
  return v as Stored
}

async function listKeys(kv: KV, filter: string): Promise<string[]> {
  const keys: string[] = []
  for await (const key of await kv.keys(filter)) keys.push(key)
  return keys
}

const leaseKey = (task: string): string => `lease.${encodeToken(task)}`
const memberKey = (member: string): string => `member.${encodeToken(member)}`

/**
 * A task or member name as one KV key token: letters, digits, `_` and `-` stay, every other byte is `=XX` (hex), so
 * any name maps to a distinct valid token (the empty name to `=`).
 */
function encodeToken(name: string): string {
  if (name === '') return '='
  let token = ''
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte)
    token += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return token
}

function decodeToken(token: string): string {
  if (token === '=') return ''
  const bytes: number[] = []
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(token.charCodeAt(i))
  }
  return Buffer.from(bytes).toString('utf8')
}
