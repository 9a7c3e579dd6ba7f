/**
 * The Redis connection the stream source and sink share: ioredis reconnects in the background while each call's
 * retry bound decides when the query gives up. The client library is loaded on first use.
 */
import type { Redis } from 'ioredis'
import { isTransientSocketError } from './retry.js'

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
  if (error.name === 'MaxRetriesPerRequestError' || isTransientSocketError(error)) return true
  return /Connection is closed|Stream isn't writeable/.test(error.message)
}

/** Closes a client without waiting on a server that may be gone. */
export function closeRedis(redis: Redis): Promise<void> {
  redis.disconnect()
  return Promise.resolve()
}

/** The field of an entry that holds the row's JSON; the sink writes the same. */
export const REDIS_VALUE_FIELD = 'value'
/**
 * The server part of a Redis URL, without credentials, for names and messages.
 * @throws RangeError on a string that is not a URL.
 */
export function redisWhere(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '6379'}${u.pathname.length > 1 ? u.pathname : ''}`
  } catch {
    throw new RangeError(`not a Redis URL: '${url}' (expected redis://host:port)`)
  }
}

