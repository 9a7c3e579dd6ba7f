/** Node socket errors that mean the other side is (for now) unreachable or went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED'])

/**
 * Whether an error is a socket error of a connection refused, reset or timed out: worth retrying after a wait.
 * @example isTransientSocketError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) // true
 * @throws never.
 */
export function isTransientSocketError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)
}
