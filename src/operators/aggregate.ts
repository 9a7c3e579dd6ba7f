import type { Codec, ErasedMigration, Grouped, Operator, ResultRow, ValueOf } from '../plan/nodes.js'
import { aggregation } from './internal/aggregateInternals.js'

/** The definition of a custom typed aggregation. */
export interface AggregateSpec<T, S, R, N extends string> {
  /** Stable name: the result column and the state operator's name in the checkpoint. */
  readonly name: N
  /** State version; raise it when `state` changes shape, and give `migrations` from older versions. */
  readonly version: number
  /** io-ts codec of the state: what is persisted, and how it is validated on restore. */
  readonly state: Codec<S>
  zero(): S
  /** Folds one row into the state. Return a new value; do not mutate `state`. */
  add(state: S, row: T): S
  merge?(a: S, b: S): S
  result(state: S): R
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
export function aggregate<G extends Grouped<unknown, unknown>, S, R, N extends string>(
  spec: AggregateSpec<ValueOf<G>, S, R, N>,
): Operator<G, ResultRow<G, { [P in N]: R }>> {
  if (!Number.isInteger(spec.version) || spec.version < 1) {
    throw new RangeError(`aggregate '${spec.name}': version must be a positive integer, got ${spec.version}`)
  }
  return aggregation(spec.name, [[spec.name, spec as never]], {
    version: spec.version,
    migrations: spec.migrations ?? [],
  })
}
