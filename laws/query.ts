import { AssertionError } from 'node:assert'
import { from, type Observable } from 'rxjs'
import {
  createSession,
  memorySink,
  memorySource,
  type Operator,
  type OutputMode,
  type PlanNode,
  type Stream,
} from '../src/index.js'

/**
 * A streaming query as the laws test it: the same function that builds the production query from its input
 * stream, and the output mode it is written with.
 * @example
 * const query: QueryUnderTest<Activity, { key: string; count: number }> = {
 *   build: (s) => s.pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count()),
 *   outputMode: 'complete',
 * }
 */
export interface QueryUnderTest<T, R> {
  readonly build: (input: Stream<T>) => Stream<R>
  readonly outputMode: OutputMode
}

/**
 * The verdict of a law on one input: whether it holds, the result the law expected and the one the engine produced,
 * the micro-batches the input was cut into, and (when it fails) a message that shows all of them.
 * @example const result = await incrementalMatchesReferenceHolds(query, rows, [2]); if (!result.holds) console.log(result.message)
 */
export interface LawResult<T, R> {
  readonly holds: boolean
  readonly expected: readonly R[]
  readonly actual: readonly R[]
  readonly batches: readonly (readonly T[])[]
  readonly message?: string
}

/**
 * The operators and plan nodes of a query, built on a throwaway session and source.
 * @example const { operators, nodes } = planOf(query) // from(rows).pipe(...operators) is its reference semantics
 */
export function planOf<T, R>(query: QueryUnderTest<T, R>): {
  readonly operators: readonly Operator<unknown, unknown>[]
  readonly nodes: readonly PlanNode[]
} {
  const stream = query.build(createSession().readStream(memorySource<T>().source))
  return { operators: stream.operators, nodes: stream.planNodes }
}

/**
 * Runs operators as plain RxJS over `input` and returns everything they emit, in order: the reference semantics.
 * @example referenceEmissions(planOf(query).operators, rows)
 * @throws whatever the operators raise (an error in the reference is a bug of the query, not of the engine).
 */
export function referenceEmissions(operators: readonly Operator<unknown, unknown>[], input: readonly unknown[]): unknown[] {
  const emitted: unknown[] = []
  let failure: { readonly error: unknown } | undefined
  operators
    .reduce<Observable<unknown>>((rows, op) => op(rows), from(input))
    .subscribe({ next: (row) => emitted.push(row), error: (error: unknown) => (failure = { error }) })
  if (failure !== undefined) throw failure.error
  return emitted
}

/**
 * Cuts `input` into consecutive micro-batches at the given positions (clamped to the input, sorted; a repeated
 * position, 0 or `input.length` makes an empty batch).
 * @example cutIntoBatches([1, 2, 3, 4], [1, 3]) // [[1], [2, 3], [4]]
 */
export function cutIntoBatches<T>(input: readonly T[], splits: readonly number[]): T[][] {
  const cuts = splits.map((s) => Math.min(Math.max(Math.trunc(s), 0), input.length)).sort((a, b) => a - b)
  const batches: T[][] = []
  let start = 0
  for (const cut of cuts) {
    batches.push(input.slice(start, cut))
    start = cut
  }
  batches.push(input.slice(start))
  return batches
}

/**
 * Runs a query on a fresh session with a `memorySource` and a `memorySink`: each batch is added, then processed
 * completely (`processAllAvailable`), and the query is stopped at the end.
 * @example const { rows } = await runInMicroBatches(query, [[a, b], [], [c]])
 * @returns the sink's result table, or the error that terminated the query with the rows committed before it.
 * @throws InvalidQueryError (and other start() errors) when the query cannot start.
 */
export async function runInMicroBatches<T, R>(
  query: QueryUnderTest<T, R>,
  batches: readonly (readonly T[])[],
): Promise<{ readonly rows: R[]; readonly error?: unknown }> {
  const input = memorySource<T>()
  const sink = memorySink<R>()
  const running = await query
    .build(createSession().readStream(input.source))
    .writeStream({ outputMode: query.outputMode, sink })
    .start()
  try {
    for (const batch of batches) {
      input.addData(batch)
      await running.processAllAvailable()
    }
  } catch (error) {
    return { rows: sink.rows(), error }
  } finally {
    await running.stop()
  }
  return { rows: sink.rows() }
}

/**
 * Turns a failed verdict into the AssertionError a law's fast-check runner throws (fast-check reports it with the
 * seed and the shrunk counterexample); does nothing when the law holds.
 * @example assertLaw('incrementalMatchesReference', await incrementalMatchesReferenceHolds(query, rows, [2]))
 */
export function assertLaw(
  law: string,
  result: { readonly holds: boolean; readonly message?: string; readonly expected: unknown; readonly actual: unknown },
): void {
  if (!result.holds) {
    throw new AssertionError({ message: result.message, expected: result.expected, actual: result.actual, operator: law })
  }
}
