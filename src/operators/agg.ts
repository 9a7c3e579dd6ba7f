import type { ErasedMigration, Grouped, Operator } from '../plan/nodes.js'
import { aggregation, columnsOf } from './internal/aggregateInternals.js'

type AggRow<G, Ops> = G extends { window: infer W }
  ? { key: G extends Grouped<infer K, unknown> ? K : never; window: W } & { [N in keyof Ops]: ColumnValue<Ops[N]> }
  : { key: G extends Grouped<infer K, unknown> ? K : never } & { [N in keyof Ops]: ColumnValue<Ops[N]> }
type ColumnValue<Op> = Op extends Operator<never, infer R> ? R[Exclude<keyof R, 'key' | 'window'>] : never

/**
 * Several aggregations of the same groups in one operator, each result column named by its field.
 * @example stream.pipe(groupBy((r) => r.device, t.string), agg({ n: count(), meanX: avg((r) => r.x), top: max((r) => r.x) }))
 * // → { key, n, meanX, top }
 * The combined state is a record with one field per column; when a column's state changes shape, raise `version`
 * and pass `migrations` of that record (as for `aggregate`). `name` names the state operator (default 'agg').
 * @throws TypeError when a field is not a single aggregation.
 */
export function agg<G extends Grouped<unknown, unknown>, Ops extends Record<string, Operator<G, object>>>(
  columns: Ops & Record<string, Operator<G, object>>,
  options: { readonly name?: string; readonly version?: number; readonly migrations?: readonly ErasedMigration[] } = {},
): Operator<G, AggRow<G, Ops>> {
  const names = Object.keys(columns)
  if (names.length === 0) throw new TypeError('agg: give at least one column, e.g. agg({ n: count() })')
  return aggregation(
    options.name ?? 'agg',
    names.map((name) => [name, columnsOf(columns[name], name)[0]![1]] as const),
    { version: options.version, migrations: options.migrations },
  )
}
