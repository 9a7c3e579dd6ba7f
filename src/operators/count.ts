import * as t from 'io-ts'
import type { Aggregator, Grouped, Operator, ResultRow } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'

const counter: Aggregator<unknown, number, number> = {
  name: 'count',
  version: 1,
  state: t.number,
  zero: () => 0,
  add: (n) => n + 1,
  merge: (a, b) => a + b,
  result: (n) => n,
}

/**
 * Counts the rows of each group: result rows `{ key, count }` (plus `window` when grouped by window).
 * @example stream.pipe(groupBy((r) => r.gt, t.string), count())
 */
export function count<G extends Grouped<unknown, unknown>>(): Operator<G, ResultRow<G, { count: number }>> {
  return aggregation('count', [['count', counter]])
}
