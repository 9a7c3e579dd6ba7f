/**
 * The Redis connection the stream source and sink share: ioredis reconnects in the background while each call's
 * retry bound decides when the query gives up. The client library is loaded on first use.
 */
import type { Redis } from 'ioredis'

/**
 * Opens a client for `url` (`redis://host:port[/db]`). Commands sent while the server is away wait for one
 * reconnection and then fail, so the caller's retry (with its bound) takes over.
 * @example const redis = await connectRedis('redis://127.0.0.1:6379')
 * @throws RangeError from ioredis on a URL it cannot read.
 */
export async function connectRedis(url: string, options: { autoPipelining: boolean } = { autoPipelining: true }): Promise<Redis> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 1000),
    // A transaction's WATCH … EXEC must not interleave with other commands, so writers turn batching off.
    enableAutoPipelining: options.autoPipelining,
  })
  // Connection errors reach the caller through the failed command; the event itself needs no second report.
  redis.on('error', () => undefined)
  return redis
}

/** Replies that mean "not now" (the server is loading its data, or busy) rather than "never". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN)\b/

/**
 * Whether a Redis error means the server is away (a closed connection, a refused reconnect, data still loading)
 * rather than a refusal such as a wrong type or a syntax error, which retrying cannot fix.
 */
export function isTransientRedisError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.name === 'ReplyError') return TRANSIENT_REPLY.test(error.message)
  if (error.name === 'MaxRetriesPerRequestError') return true
  const code = (error as NodeJS.ErrnoException).code
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true
  return /Connection is closed|Stream isn't writeable/.test(error.message)
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'])

/** Closes a client without waiting on a server that may be gone. */
export function closeRedis(redis: Redis): Promise<void> {
  redis.disconnect()
  return Promise.resolve()
}
