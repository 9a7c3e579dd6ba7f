import { ConnectorUnavailableError } from '../errors.js'

/**
 * How long a connector keeps retrying an operation that fails with transient errors: up to `maxAttempts` attempts,
 * waiting `initialDelayMs` after the first failure and doubling up to `maxDelayMs` (each wait jittered down by up to
 * half, so many clients do not retry in step).
 */
export interface RetryPolicy {
  readonly maxAttempts: number
  readonly initialDelayMs: number
  readonly maxDelayMs: number
}

/**
 * The connectors' default: 10 attempts, 100 ms doubling to 5 s, so an outage of up to about 20 seconds (a database
 * restart, a failover) is ridden out and a longer one fails the query with the cause after at most ~26 s of waits.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 5_000 }

/**
 * Runs `operation`, retrying it with exponential back-off while it fails with an error `isTransient` accepts.
 * The operation must be safe to repeat (idempotent, or a transaction that either committed or did nothing).
 * @example
 * await withRetries('PostgreSQL sink counts, batch 3', DEFAULT_RETRY_POLICY, isTransientPgError, () => writeBatch())
 * @throws ConnectorUnavailableError naming `target` when every attempt failed transiently; the first non-transient
 * error as it is.
 */
export async function withRetries<T>(
  target: string,
  policy: RetryPolicy,
  isTransient: (error: unknown) => boolean,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  const startedAt = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt)
    } catch (error) {
      if (!isTransient(error)) throw error
      if (attempt >= policy.maxAttempts) {
        throw new ConnectorUnavailableError(target, attempt, Date.now() - startedAt, error)
      }
      const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1))
      await new Promise((resolve) => setTimeout(resolve, ceiling * (0.5 + Math.random() / 2)))
    }
  }
}

/** Node socket errors that mean the other side is (for now) unreachable or went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED'])

/**
 * Whether an error is a socket error of a connection refused, reset or timed out.
 * @example isTransientSocketError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) // true
 * @throws never.
 */
export function isTransientSocketError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)
}
