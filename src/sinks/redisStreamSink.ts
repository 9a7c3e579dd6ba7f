import { closeRedis, connectRedis, isTransientRedisError, REDIS_VALUE_FIELD, redisWhere } from '../durable/redisClient.js'
import { type RetryOptions, retryPolicy, withRetry } from '../durable/retry.js'
import type { Sink } from './sink.js'

/**
 * Options of `redisStreamSink`.
 * @example redisStreamSink({ url: 'redis://127.0.0.1:6379', key: 'counts', retry: { attempts: 20, maxDelayMs: 5000 } })
 */
export interface RedisStreamSinkOptions {
  /** `redis://host:port[/db]`. */
  readonly url: string
  /** The stream key the rows are appended to. */
  readonly key: string
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
 * @example writeStream({ outputMode: 'append', sink: redisStreamSink({ url: 'redis://127.0.0.1:6379', key: 'out' }), checkpointLocation })
 * Fails the query with ConnectorUnavailableError when the server stays unreachable through `retry`.
 * @throws RangeError on a URL that is not `redis://…`.
 */
export function redisStreamSink(options: RedisStreamSinkOptions): Sink<unknown> {
  const where = redisWhere(options.url)
  const policy = retryPolicy(options.retry, 'redisStreamSink')
  const markerKey = redisBatchMarkerKey(options.key)
  return {
    description: `RedisStreamSink[${options.key}]`,
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
            const type = await redis.type(options.key)
            if (type !== 'stream' && type !== 'none') {
              throw new Error(`redisStreamSink: key ${options.key} holds a ${type}, not a stream`)
            }
            const tx = redis.multi()
            for (const row of rows) tx.xadd(options.key, '*', REDIS_VALUE_FIELD, JSON.stringify(row))
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
