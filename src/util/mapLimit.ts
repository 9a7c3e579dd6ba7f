/**
 * Maps `items` through an async `fn` with at most `limit` calls in flight, keeping the results in input order. The
 * first rejection rejects the whole map once the calls in flight have settled (no work is left running).
 * @example const sizes = await mapLimit(paths, 16, async (p) => (await stat(p)).size)
 * @throws the first error `fn` throws.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i]!, i)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker))
  if (failure !== undefined) throw failure.error
  return results
}
