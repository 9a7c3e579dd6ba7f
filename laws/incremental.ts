import type { Operator, OutputMode, PlanNode } from '../src/index.js'
import {
  cutIntoBatches,
  type LawResult,
  planOf,
  type QueryUnderTest,
  referenceEmissions,
  runInMicroBatches,
} from './query.js'
import { comparisonFor, resultDifference } from './compare.js'
import { canonical, sortByIdentity, upsertByIdentity } from './rows.js'

/**
 * What the sink holds at the end, by output mode and plan:
 * - `'stream'`: append without an aggregation: every emitted row, in order;
 * - `'table'`: update or complete: the last row of each `(key, window)`;
 * - `'closedWindows'`: append after a windowed aggregation: the last row of each window the watermark closed.
 * @example resultShape('update', planOf(query).nodes) // 'table'
 */
export type ResultShape = 'stream' | 'table' | 'closedWindows'

/**
 * The shape of a query's result table.
 * @example resultShape('append', planOf(query).nodes) // 'closedWindows' when the plan aggregates
 */
export function resultShape(outputMode: OutputMode, nodes: readonly PlanNode[]): ResultShape {
  if (outputMode !== 'append') return 'table'
  return nodes.some((n) => n.kind === 'aggregate') ? 'closedWindows' : 'stream'
}

/**
 * The watermark after all of `input`: the largest event time reaching the `withWatermark` node minus its delay, and
 * never below epoch 0, where the watermark starts (as in Spark). `-Infinity` for a plan without a watermark.
 * Event times come from running the reference operators before the `withWatermark` node.
 * @example finalWatermark(nodes, operators, [{ ts: 10_000 }]) // 5_000 for withWatermark((r) => r.ts, '5 seconds')
 * @throws TypeError when an event time is not a finite number.
 */
export function finalWatermark(
  nodes: readonly PlanNode[],
  operators: readonly Operator<unknown, unknown>[],
  input: readonly unknown[],
): number {
  const at = nodes.findIndex((n) => n.kind === 'withWatermark')
  const node = nodes[at]
  if (node?.kind !== 'withWatermark') return -Infinity
  const timeOf = node.timeOf as (row: unknown) => unknown
  let watermark = 0
  for (const row of referenceEmissions(operators.slice(0, at), input)) {
    const time = timeOf(row)
    if (typeof time !== 'number' || !Number.isFinite(time)) {
      throw new TypeError(`withWatermark: event time must be a finite number, got ${canonical(time)}`)
    }
    watermark = Math.max(watermark, time - node.delayMs)
  }
  return watermark
}

/**
 * The result the query's RxJS reference semantics imply: the reference emissions in order (append without
 * aggregation), or upserted by `(key, window)` and sorted by that identity (update, complete), keeping only the
 * windows the final watermark closed (append after a windowed aggregation). The law compares it with the engine's
 * result through `resultDifference`: as a multiset in append mode, as a table otherwise.
 * @example
 * foldReference({ build: (s) => s.pipe(groupBy((r) => r.k, t.string), count()), outputMode: 'update' },
 *   [{ k: 'a' }, { k: 'a' }]) // [{ key: 'a', count: 2 }]
 * @throws whatever the reference operators throw.
 */
export function foldReference<T, R>(query: QueryUnderTest<T, R>, input: readonly T[]): R[] {
  const { operators, nodes } = planOf(query)
  const emitted = referenceEmissions(operators, input) as R[]
  switch (resultShape(query.outputMode, nodes)) {
    case 'stream':
      return emitted
    case 'table':
      return sortByIdentity(upsertByIdentity(emitted))
    case 'closedWindows': {
      const watermark = finalWatermark(nodes, operators, input)
      const closed = (row: R) => {
        const window = (row as { window?: { end?: unknown } }).window
        return typeof window?.end === 'number' && window.end <= watermark
      }
      return sortByIdentity(upsertByIdentity(emitted).filter(closed))
    }
  }
}

/**
 * The law itself, on one input and one split: the engine, fed `input` in micro-batches cut at `splits` (each added,
 * then processed completely), leaves in its memory sink exactly the result of the RxJS reference semantics (see
 * `foldReference`), compared as a multiset (append) or a table by `key` and `window` (update, complete). Queries with a watermark need in-order input (non-decreasing event times): the reference
 * never drops a row as late.
 * @example
 * const result = await incrementalMatchesReferenceHolds(
 *   { build: (s) => s.pipe(groupBy((r) => r.k, t.string), count()), outputMode: 'update' },
 *   [{ k: 'a' }, { k: 'b' }, { k: 'a' }], [1, 1])
 * result.holds // true; batches [[{ k: 'a' }], [], [{ k: 'b' }, { k: 'a' }]]
 * @throws InvalidQueryError when the query cannot start; whatever the reference operators throw.
 */
export async function incrementalMatchesReferenceHolds<T, R>(
  query: QueryUnderTest<T, R>,
  input: readonly T[],
  splits: readonly number[],
): Promise<LawResult<T, R>> {
  const batches = cutIntoBatches(input, splits)
  const expected = foldReference(query, input)
  const run = await runInMicroBatches(query, batches)
  const actual = run.rows
  const difference =
    run.error !== undefined
      ? `the query failed: ${errorText(run.error)}`
      : resultDifference(expected, actual, comparisonFor(query.outputMode))
  if (difference === undefined) return { holds: true, expected, actual, batches }
  const message = [
    `incrementalMatchesReference does not hold (output mode '${query.outputMode}', ${batches.length} micro-batches): ${difference}`,
    `  batches:  ${canonical(batches)}`,
    `  expected: ${canonical(expected)}`,
    `  actual:   ${canonical(actual)}`,
  ].join('\n')
  return { holds: false, expected, actual, batches, message }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
