import fc from 'fast-check'
import { incrementalMatchesReferenceHolds } from './incremental.js'
import { assertLaw, type QueryUnderTest } from './query.js'
import { splitSeeds, splitsOf } from './splits.js'

/**
 * Options of `incrementalMatchesReference`.
 * @example
 * const options: IncrementalMatchesReferenceOptions<{ k: string }, { key: string; count: number }> = {
 *   query: { build: (s) => s.pipe(groupBy((r) => r.k, t.string), count()), outputMode: 'update' },
 *   input: fc.array(fc.record({ k: fc.constantFrom('a', 'b') })),
 *   maxBatches: 5,
 * }
 * await fc.assert(incrementalMatchesReference(options))
 */
export interface IncrementalMatchesReferenceOptions<T, R> {
  /** The query: the production `build` function and its output mode. */
  readonly query: QueryUnderTest<T, R>
  /** Inputs to try. With a watermark, generate in-order rows (non-decreasing event times). */
  readonly input: fc.Arbitrary<T[]>
  /** The most micro-batches an input is cut into (default 10). */
  readonly maxBatches?: number
}

/**
 * The law `incrementalMatchesReference` as a fast-check property: for any input and any split of it into
 * micro-batches (empty ones included), the engine's result table equals the one of the query's RxJS reference
 * semantics (see `incrementalMatchesReferenceHolds`). The number of runs is fast-check's: pass `numRuns` to
 * `fc.assert`, which also prints the seed and the shrunk counterexample on failure.
 * @example
 * await fc.assert(
 *   incrementalMatchesReference({
 *     query: { build: (s) => s.pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count()),
 *              outputMode: 'complete' },
 *     input: fc.array(fc.record({ gt: fc.constantFrom('sit', 'walk', 'null') })),
 *   }),
 *   { numRuns: 100 },
 * )
 * @throws (when run) an AssertionError with the batches, the expected and the actual table when the law fails.
 */
export function incrementalMatchesReference<T, R>(
  options: IncrementalMatchesReferenceOptions<T, R>,
): fc.IAsyncProperty<[T[], number[]]> {
  return fc.asyncProperty(options.input, splitSeeds(options.maxBatches), async (input, seeds) => {
    const result = await incrementalMatchesReferenceHolds(options.query, input, splitsOf(seeds, input.length))
    assertLaw('incrementalMatchesReference', result)
  })
}
