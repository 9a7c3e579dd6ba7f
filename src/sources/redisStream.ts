import type { Redis } from 'ioredis'
import { closeRedis, connectRedis, isTransientRedisError, REDIS_VALUE_FIELD, redisWhere } from '../durable/redisClient.js'
import type { Codec } from '../plan/nodes.js'
import { checkPartitions } from '../util/partitions.js'
import { type LogEntry, type LogSourceOptions, logSource, type PartitionedLog } from './logSource.js'
import { checkPartitionedBy, partitionedLog, type PartitionedSource, type Partitioning } from './partitioned.js'
import type { Source } from './source.js'

/**
 * Options of `redisStream`.
 * @example redisStream({ url: 'redis://127.0.0.1:6379', key: 'events', codec: Event, partitions: 4, maxEntriesPerTrigger: 10_000 })
 */
export interface RedisStreamOptions<T> extends LogSourceOptions<T> {
  /** `redis://host:port[/db]`. */
  readonly url: string
  /** The stream key, or with `partitions` the prefix of the partition keys `<key>:<p>`. */
  readonly key: string
  readonly codec: Codec<T>
  /** Read `<key>:0` … `<key>:<P-1>` as P partitions, one entry id each in the offset. */
  readonly partitions?: number
  /**
   * How the producer split the partitions: `'stableKeyHash'` when it placed each row with `partitionBy` of a key,
   * `'unknown'` for any other split. Given, the source is a `PartitionedSource`: a query over it runs as P tasks (a
   * stateful one only over `'stableKeyHash'`). Left out, the P keys are read as one source, as before.
   */
  readonly partitionedBy?: Partitioning['by']
  /** At most this many entries per micro-batch over all partitions (default: all available). */
  readonly maxEntriesPerTrigger?: number
}

/** Entries asked for in one XRANGE. */
const XRANGE_CHUNK = 10_000

/**
 * Reads a Redis stream (or P partition streams) as a stream. Offsets are entry ids, one per key: a batch is the id
 * range `(start, end]` of each, re-read exactly on a re-run with `XRANGE key (start end`. An entry holds the row's
 * JSON in its field `value`. With `partitions` and `partitionedBy` it is a `PartitionedSource` instead: a query over
 * it runs as P tasks, task p reading `<key>:<p>` alone; without `partitionedBy` the P keys are read as one source.
 * @example session.readStream(redisStream({ url: 'redis://127.0.0.1:6379', key: 'clicks', partitions: 4, codec: Click }))
 * @example session.readStream(redisStream({ url, key: 'clicks', partitions: 4, partitionedBy: 'stableKeyHash', codec: Click })) // 4 tasks
 * Fails the query with BadMessageError (key, entry id, codec path) on a bad entry unless `badRecords` is set, and
 * with ConnectorUnavailableError when the server stays unreachable through `retry`.
 * @throws RangeError on a bad `partitions`, `maxEntriesPerTrigger` or `partitionedBy`, or `partitionedBy` without `partitions`.
 */
export function redisStream<T>(options: RedisStreamOptions<T> & { readonly partitions: number; readonly partitionedBy: Partitioning['by'] }): PartitionedSource<T>
export function redisStream<T>(options: RedisStreamOptions<T>): Source<T>
export function redisStream<T>(options: RedisStreamOptions<T>): Source<T> | PartitionedSource<T> {
  const partitions = checkPartitions(options.partitions, 'redisStream')
  const by = checkPartitionedBy(options.partitionedBy, partitions, 'redisStream')
  const where = redisWhere(options.url)
  const keyOf = (p: number) => `${options.key}:${p}`
  if (partitions === undefined) return redisStreamOver(options, [options.key], options.key, `${where}/${options.key}`)
  const whole = redisStreamOver(
    options,
    Array.from({ length: partitions }, (_, p) => keyOf(p)),
    `${options.key}:[0..${partitions - 1}]`,
    `${where}/${options.key}:*`,
  )
  if (by === undefined) return whole
  return partitionedLog(whole, partitions, by, (p) => redisStreamOver(options, [keyOf(p)], keyOf(p), `${where}/${keyOf(p)}`))
}

/** The source over some keys, read as one: each key a partition of its offset. */
function redisStreamOver<T>(options: RedisStreamOptions<T>, keys: readonly string[], shown: string, identity: string): Source<T> {
  return logSource(
    {
      description: `RedisStream[${shown}]`,
      kind: 'redisStream',
      identity,
      connector: `redis-server ${redisWhere(options.url)}`,
      maxPerTrigger: options.maxEntriesPerTrigger,
      maxOptionName: 'maxEntriesPerTrigger',
      isTransient: isTransientRedisError,
      open: async () => redisLog(await connectRedis(options.url), keys),
    },
    options,
  )
}

function redisLog(redis: Redis, keys: readonly string[]): PartitionedLog {
  return {
    partitions: keys,
    initialPosition: '0-0',
    describe: (p) => `key ${keys[p]}`,
    async latestPosition(p, after) {
      const last = await redis.xrevrange(keys[p]!, '+', '-', 'COUNT', 1)
      return last.length === 0 ? after : last[0]![0]
    },
    async readRange(p, after, end, max) {
      const entries: LogEntry[] = []
      let cursor = after as string
      while (entries.length < max) {
        const count = Math.min(XRANGE_CHUNK, max - entries.length)
        const chunk = await redis.xrange(keys[p]!, `(${cursor}`, end as string, 'COUNT', count)
        for (const [id, fields] of chunk) entries.push(entryOf(id, fields))
        if (chunk.length < count) break
        cursor = chunk[chunk.length - 1]![0]
      }
      return entries
    },
    close: () => closeRedis(redis),
  }
}

function entryOf(id: string, fields: string[]): LogEntry {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === REDIS_VALUE_FIELD) return { position: id, text: fields[i + 1]! }
  }
  const names = fields.filter((_, i) => i % 2 === 0)
  return { position: id, text: undefined, problem: `entry has no field '${REDIS_VALUE_FIELD}' (fields: ${names.join(', ') || 'none'})` }
}
