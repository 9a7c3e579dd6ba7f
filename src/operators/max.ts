import type { Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'
import { extremum } from './internal/extremum.js'

/**
 * The largest `f(row)` of each group: result rows `{ key, max }`.
 * @example stream.pipe(groupBy((r) => r.device, t.string), max((r) => r.x))
 */
export function max<G extends Grouped<unknown, T>, T = ValueOf<G>>(
  f: (row: T) => number,
): Operator<G & Grouped<unknown, T>, ResultRow<G, { max: number }>> {
  return aggregation('max', [['max', extremum('max', f, (a, b) => a > b)]])
}
