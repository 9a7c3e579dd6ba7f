import { closeRedis, connectRedis, isTransientRedisError, REDIS_VALUE_FIELD, redisWhere } from '../durable/redisClient.js'
import { type RetryOptions, retryPolicy, withRetry } from '../durable/retry.js'
import { checkPartitions } from '../util/partitions.js'
import { type PartitionBy, placement } from './placement.js'
import type { Sink } from './sink.js'

/**
 * Options of `redisStreamSink`.
 * @example redisStreamSink({ url: 'redis://127.0.0.1:6379', key: 'counts', retry: { attempts: 20, maxDelayMs: 5000 } })
 */
export interface RedisStreamSinkOptions<R = unknown, K = unknown> {
  /** `redis://host:port[/db]`. */
  readonly url: string
  /** The stream key the rows are appended to, or with `partitions` the prefix of the partition keys `<key>:<p>`. */
  readonly key: string
  /** Append to `<key>:0` … `<key>:<P-1>` (in one script per batch, so on one Redis server or hash slot). */
  readonly partitions?: number
  /**
   * The key that places a row: partition `hash(encode(key)) mod P` with the engine's stable key hash, so stream
   * partition p feeds task p of a query grouping by the same key. Without it a row's partition is a hash of its JSON.
   */
  readonly partitionBy?: PartitionBy<R, K>
  /** What is stored for a row, as JSON (default: the row itself); e.g. a codec's `encode`. Placement still reads the row. */
  readonly encode?: (row: R) => unknown
  /** How a batch is retried while the server is unreachable (default: 10 tries, about 11 s of back-off). */
  readonly retry?: RetryOptions
}

/**
 * Appends one batch, atomically on the server: KEYS are the marker hash then the stream keys, ARGV the query id, the
 * batch id, the field name, then a stream key's index (into KEYS) and a row's JSON for each row. A batch the marker
 * already holds for this query writes nothing (0); a stream key holding another type writes nothing and names it
 * (checked before any write: Redis does not undo a script's earlier writes when a later command fails); otherwise
 * the rows and the marker are written (1). Being one script, the check holds whatever connection it arrives on,
 * also when the client sends it again after a reconnect.
 */
const APPEND_BATCH_LUA = `
local done = redis.call('HGET', KEYS[1], ARGV[1])
if done and tonumber(done) >= tonumber(ARGV[2]) then return 0 end
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'stream' and kind ~= 'none' then return {KEYS[i], kind} end
end
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', ARGV[3], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`

/**
 * Appends each micro-batch's rows to a Redis stream, one entry per row with the row's JSON in field `value` (what
 * `redisStream` reads). Exactly once across crashes: the entries and a per-query marker (`<key>:srx-batches`, a hash
 * from query id to last batch id) are written by one server-side script that first checks the marker, so a batch is
 * either wholly in the stream with its marker or not at all, and a re-run of a batch the marker already holds writes
 * nothing — also when the client resends the script on a new connection after the old one dropped mid-batch.
 * With `partitions`, each row goes to the key `<key>:<p>` of its partition, all in the batch's one transaction.
 * @example writeStream({ outputMode: 'append', sink: redisStreamSink({ url: 'redis://127.0.0.1:6379', key: 'out' }), checkpointLocation })
 * @example redisStreamSink({ url, key: 'clicks-by-user', partitions: 8, partitionBy: [(c: Click) => c.user, t.string] })
 * Fails the query with ConnectorUnavailableError when the server stays unreachable through `retry`.
 * @throws RangeError on a URL that is not `redis://…`, a bad `partitions`, or `partitionBy` without `partitions`.
 */
export function redisStreamSink<R = unknown, K = unknown>(options: RedisStreamSinkOptions<R, K>): Sink<R> {
  const partitions = checkPartitions(options.partitions, 'redisStreamSink')
  if (options.partitionBy !== undefined && partitions === undefined) {
    throw new RangeError('redisStreamSink: partitionBy needs partitions')
  }
  const keys = partitions === undefined ? [options.key] : Array.from({ length: partitions }, (_, p) => `${options.key}:${p}`)
  const place = placement<R, K>(keys.length, options.partitionBy)
  const encode = options.encode ?? ((row: R) => row)
  const where = redisWhere(options.url)
  const policy = retryPolicy(options.retry, 'redisStreamSink')
  const markerKey = redisBatchMarkerKey(options.key)
  return {
    description: `RedisStreamSink[${partitions === undefined ? options.key : `${options.key}:[0..${partitions - 1}]`}]`,
    async open(ctx) {
      const redis = await connectRedis(options.url, { autoPipelining: false })
      redis.defineCommand('srxAppendBatch', { lua: APPEND_BATCH_LUA })
      // One array argument (ioredis flattens it), not spread: a batch of many rows is more arguments than a call takes.
      const appendBatch = (redis as unknown as { srxAppendBatch(args: (string | number)[]): Promise<unknown> }).srxAppendBatch.bind(redis)
      return {
        async addBatch(batchId, rows) {
          // KEYS[1] is the marker, KEYS[2 + p] the stream key of partition p.
          const args: (string | number)[] = [1 + keys.length, markerKey, ...keys, ctx.queryId, String(batchId), REDIS_VALUE_FIELD]
          for (const row of rows) {
            const json = JSON.stringify(encode(row))
            args.push(2 + place(row, json), json)
          }
          const answer = await withRetry(`redis-server ${where}`, policy, isTransientRedisError, () => appendBatch(args))
          if (Array.isArray(answer)) throw new Error(`redisStreamSink: key ${answer[0]} holds a ${answer[1]}, not a stream`)
        },
        stop: () => closeRedis(redis),
      }
    },
  }
}

/** The hash that records, per query id, the last batch a `redisStreamSink` committed to `key`. */
export const redisBatchMarkerKey = (key: string): string => `${key}:srx-batches`
