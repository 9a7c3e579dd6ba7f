import type { Aggregator, ErasedMigration, Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'

/**
 * The definition of a custom typed aggregation: an `Aggregator` whose `name` is the result column and the state
 * operator's name in the checkpoint. Raise `version` when `state` changes shape, and give `migrations` from older
 * versions; `add` must return a new state rather than mutate its input.
 * @example
 * const stats: AggregateSpec<Sale, { n: number; total: number }, number, 'mean'> = {
 *   name: 'mean', version: 1, state: t.type({ n: t.number, total: t.number }),
 *   zero: () => ({ n: 0, total: 0 }), add: (s, r) => ({ n: s.n + 1, total: s.total + r.amount }), result: (s) => s.total / s.n,
 * }
 * stream.pipe(groupBy((r: Sale) => r.user, t.string), aggregate(stats))
 */
export interface AggregateSpec<T, S, R, N extends string> extends Omit<Aggregator<T, S, R>, 'name' | 'migrations'> {
  readonly name: N
  readonly migrations?: readonly ErasedMigration[]
}

/**
 * A custom aggregation with explicitly typed, versioned state. Result rows `{ key, [name]: result(state) }`.
 * @example
 * groupBy((r) => r.user, t.string),
 * aggregate({ name: 'stats', version: 1, state: t.type({ n: t.number, total: t.number }),
 *   zero: () => ({ n: 0, total: 0 }), add: (s, r) => ({ n: s.n + 1, total: s.total + r.amount }),
 *   result: (s) => s.total / s.n })
 * @throws RangeError when `version` is not a positive integer.
 */
export function aggregate<G extends Grouped<unknown, T>, S, R, N extends string, T = ValueOf<G>>(
  spec: AggregateSpec<T, S, R, N>,
): Operator<G & Grouped<unknown, T>, ResultRow<G, { [P in N]: R }>> {
  if (!Number.isInteger(spec.version) || spec.version < 1) {
    throw new RangeError(`aggregate '${spec.name}': version must be a positive integer, got ${spec.version}`)
  }
  return aggregation(spec.name, [[spec.name, spec as never]], {
    version: spec.version,
    migrations: spec.migrations ?? [],
  })
}
