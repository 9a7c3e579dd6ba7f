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
  /** Append to `<key>:0` … `<key>:<P-1>` (in one transaction per batch, so on one Redis server or hash slot). */
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

/** Raised inside a try when another client changed the marker between WATCH and EXEC: the try starts over. */
class MarkerMoved extends Error {
  override readonly name = 'MarkerMoved'
}

/**
 * Appends each micro-batch's rows to a Redis stream, one entry per row with the row's JSON in field `value` (what
 * `redisStream` reads). Exactly once across crashes: the entries and a per-query marker (`<key>:srx-batches`, a hash
 * from query id to last batch id) are written in one `MULTI`, under `WATCH` of the marker, so a batch is either
 * wholly in the stream with its marker or not at all, and a re-run of a batch the marker already holds writes nothing.
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
      const transient = (e: unknown) => e instanceof MarkerMoved || isTransientRedisError(e)
      return {
        async addBatch(batchId, rows) {
          await withRetry(`redis-server ${where}`, policy, transient, async () => {
            await redis.watch(markerKey)
            const done = await redis.hget(markerKey, ctx.queryId)
            if (done !== null && Number(done) >= batchId) {
              await redis.unwatch()
              return
            }
            // Redis does not roll back a transaction whose command fails at EXEC (XADD on a key of another type),
            // so the marker would claim rows that were never written: refuse such a key before the MULTI.
            const types = await Promise.all(keys.map((key) => redis.type(key)))
            const wrong = types.findIndex((type) => type !== 'stream' && type !== 'none')
            if (wrong >= 0) throw new Error(`redisStreamSink: key ${keys[wrong]} holds a ${types[wrong]}, not a stream`)
            const tx = redis.multi()
            for (const row of rows) {
              const json = JSON.stringify(encode(row))
              tx.xadd(keys[place(row, json)]!, '*', REDIS_VALUE_FIELD, json)
            }
            tx.hset(markerKey, ctx.queryId, String(batchId))
            const results = await tx.exec()
            if (results === null) throw new MarkerMoved(`the batch marker ${markerKey} changed during batch ${batchId}`)
            const failed = results.find(([error]) => error !== null)
            if (failed !== undefined) throw failed[0]
          })
        },
        stop: () => closeRedis(redis),
      }
    },
  }
}

/** The hash that records, per query id, the last batch a `redisStreamSink` committed to `key`. */
export const redisBatchMarkerKey = (key: string): string => `${key}:srx-batches`
