import * as t from 'io-ts'
import type { Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'

/**
 * Sums `f(row)` over each group: result rows `{ key, sum }`.
 * @example stream.pipe(groupBy((r) => r.user, t.string), sum((r) => r.amount))
 */
export function sum<G extends Grouped<unknown, T>, T = ValueOf<G>>(
  f: (row: T) => number,
): Operator<G & Grouped<unknown, T>, ResultRow<G, { sum: number }>> {
  return aggregation('sum', [
    ['sum', { name: 'sum', version: 1, state: t.number, zero: () => 0, add: (s: number, row: T) => s + f(row), merge: (a, b) => a + b, result: (s) => s }],
  ])
}
