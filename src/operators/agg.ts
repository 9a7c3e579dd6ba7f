import type { Grouped, Operator } from '../plan/nodes.js'
import { aggregation, columnsOf } from './internal/aggregateInternals.js'

type AggRow<G, Ops> = G extends { window: infer W }
  ? { key: G extends Grouped<infer K, unknown> ? K : never; window: W } & { [N in keyof Ops]: ColumnValue<Ops[N]> }
  : { key: G extends Grouped<infer K, unknown> ? K : never } & { [N in keyof Ops]: ColumnValue<Ops[N]> }
type ColumnValue<Op> = Op extends Operator<never, infer R> ? R[Exclude<keyof R, 'key' | 'window'>] : never

/**
 * Several aggregations of the same groups in one operator, each result column named by its field.
 * @example stream.pipe(groupBy((r) => r.device, t.string), agg({ n: count(), meanX: avg((r) => r.x), top: max((r) => r.x) }))
 * // → { key, n, meanX, top }
 * @throws TypeError when a field is not a single aggregation.
 */
export function agg<G extends Grouped<unknown, unknown>, Ops extends Record<string, Operator<G, object>>>(
  columns: Ops,
): Operator<G, AggRow<G, Ops>> {
  const names = Object.keys(columns)
  if (names.length === 0) throw new TypeError('agg: give at least one column, e.g. agg({ n: count() })')
  return aggregation(
    'agg',
    names.map((name) => [name, columnsOf(columns[name], name)[0]![1]] as const),
  )
}
