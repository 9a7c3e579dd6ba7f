import * as t from 'io-ts'
import type { Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'

const AvgState = t.type({ sum: t.number, count: t.number })
type AvgState = t.TypeOf<typeof AvgState>

/**
 * Averages `f(row)` over each group: result rows `{ key, avg }`. State is `{ sum, count }`.
 * @example stream.pipe(groupBy((r) => r.device, t.string), avg((r) => r.x))
 */
export function avg<G extends Grouped<unknown, T>, T = ValueOf<G>>(
  f: (row: T) => number,
): Operator<G & Grouped<unknown, T>, ResultRow<G, { avg: number }>> {
  return aggregation('avg', [
    [
      'avg',
      {
        name: 'avg',
        version: 1,
        state: AvgState,
        zero: (): AvgState => ({ sum: 0, count: 0 }),
        add: (s: AvgState, row: T) => ({ sum: s.sum + f(row), count: s.count + 1 }),
        merge: (a: AvgState, b: AvgState) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
        result: (s: AvgState) => s.sum / s.count,
      },
    ],
  ])
}
