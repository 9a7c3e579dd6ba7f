import type { Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'
import { extremum } from './internal/extremum.js'

/**
 * The smallest `f(row)` of each group: result rows `{ key, min }`.
 * @example stream.pipe(groupBy((r) => r.device, t.string), min((r) => r.x))
 */
export function min<G extends Grouped<unknown, T>, T = ValueOf<G>>(
  f: (row: T) => number,
): Operator<G & Grouped<unknown, T>, ResultRow<G, { min: number }>> {
  return aggregation('min', [['min', extremum('min', f, (a, b) => a < b)]])
}
