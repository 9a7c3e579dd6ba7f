/**
 * Retries with exponential back-off for connectors whose broker may go away for a moment, and the one classification
 * of errors they all start from (a socket that was refused, reset or timed out). The bound is a number of attempts,
 * so how long a query keeps trying is known in advance; past it the last error surfaces.
 */
import { ConnectorUnavailableError } from '../errors.js'

/**
 * How a connector retries a failed call to its broker.
 * @example
 * const patient: RetryOptions = { attempts: 20, initialDelayMs: 200, maxDelayMs: 5000 } // about a minute of back-off
 * redisStreamSink({ url, key: 'out', retry: patient })
 */
export interface RetryOptions {
  /** Tries in all, the first included (default 10). */
  readonly attempts?: number
  /** Wait before the first retry (default 100 ms); doubles each time. */
  readonly initialDelayMs?: number
  /** Longest wait between two tries (default 2000 ms). */
  readonly maxDelayMs?: number
}

/** With the defaults a call is tried for about 11 s of waiting (plus each try's own timeout) before it fails. */
export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 10, initialDelayMs: 100, maxDelayMs: 2000 }

/** Checks user-given retry options and fills in the defaults. */
export function retryPolicy(options: RetryOptions | undefined, what: string): Required<RetryOptions> {
  const policy = { ...DEFAULT_RETRY, ...options }
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new RangeError(`${what}: retry.attempts must be a positive integer, got ${policy.attempts}`)
  }
  if (!(policy.initialDelayMs >= 0) || !(policy.maxDelayMs >= policy.initialDelayMs)) {
    throw new RangeError(`${what}: retry delays must satisfy 0 <= initialDelayMs <= maxDelayMs`)
  }
  return policy
}

/**
 * Runs `call` until it succeeds, retrying errors `isTransient` accepts. Each try must be safe to repeat (the
 * connectors re-check their commit markers at the start of every try).
 * @example await withRetry('redis 127.0.0.1:6379', policy, isTransientRedisError, () => redis.xrange(key, '-', '+'))
 * @throws ConnectorUnavailableError after the last attempt, with the last error as `cause`; a non-transient error
 * is rethrown as it is, at once.
 */
export async function withRetry<T>(
  connector: string,
  policy: Required<RetryOptions>,
  isTransient: (error: unknown) => boolean,
  call: () => Promise<T>,
): Promise<T> {
  let delay = policy.initialDelayMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (!isTransient(error)) throw error
      if (attempt >= policy.attempts) throw new ConnectorUnavailableError(connector, attempt, error)
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, policy.maxDelayMs)
    }
  }
}

/** Node socket error codes that mean the other side is (for now) unreachable or went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED'])
/** How clients that drop the code report the same (an HTTP agent's "socket hang up", a code quoted in a message). */
const TRANSIENT_SOCKET_MESSAGE = /socket hang up|\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT)\b/
/** Client libraries wrap the socket error (`cause`); this many levels are looked through. */
const CAUSE_DEPTH = 4

/**
 * Whether an error, or an error it wraps as `cause`, is a socket error of a connection refused, reset or timed out:
 * worth retrying after a wait. Every connector's own classification (PostgreSQL, S3, Redis) starts from this one and
 * adds its server's transient replies.
 * @example isTransientSocketError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) // true
 * @throws never.
 */
export function isTransientSocketError(error: unknown): boolean {
  let e = error
  for (let depth = 0; typeof e === 'object' && e !== null && depth < CAUSE_DEPTH; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown }
    if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return true
    if (typeof message === 'string' && TRANSIENT_SOCKET_MESSAGE.test(message)) return true
    e = cause
  }
  return false
}
