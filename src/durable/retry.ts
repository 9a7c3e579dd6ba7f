/**
 * Retries with exponential back-off for connectors whose broker may go away for a moment. The bound is a number of
 * attempts, so how long a query keeps trying is known in advance; past it the last error surfaces.
 */
import { ConnectorUnavailableError } from '../errors.js'

/** How a connector retries a failed call to its broker. */
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
