/**
 * What `promise` settles with, or `fallback` once `timeoutMs` has passed without it settling (no limit when
 * `timeoutMs` is undefined). The timer is cleared either way, so a wait that ended never keeps the process alive.
 * @example const terminated = await withTimeout(query.awaitTermination(), 5000, false)
 * @throws what `promise` rejects with, when it rejects before the time is up.
 */
export function withTimeout<T, F>(promise: Promise<T>, timeoutMs: number | undefined, fallback: F): Promise<T | F> {
  if (timeoutMs === undefined) return promise
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), timeoutMs)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
