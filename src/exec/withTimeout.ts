/**
 * Whether `done` settled within `timeoutMs` (always, without a timeout): true once it resolved, false on time-out.
 * @example if (!(await settledWithin(query.ended, 5_000))) console.warn('still running')
 * @throws whatever `done` rejects with.
 */
export async function settledWithin(done: Promise<unknown>, timeoutMs: number | undefined): Promise<boolean> {
  const settled = done.then(() => true)
  if (timeoutMs === undefined) return settled
  // A rejection after the time-out has no one waiting for it: not an unhandled rejection.
  settled.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))
  try {
    return await Promise.race([settled, timeout])
  } finally {
    clearTimeout(timer)
  }
}
