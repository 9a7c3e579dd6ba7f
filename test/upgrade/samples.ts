/**
 * Versioned queries the upgrade tests and golden checkpoints share: a custom aggregation `stats` at versions 1→2→3
 * (the sample chain of docs/upgrading.md) and a mapGroupsWithState `spend` at versions 1→2.
 */
import * as t from 'io-ts'
import { aggregate, groupBy, type Grouped, mapGroupsWithState, migration, type Stream } from '../../src/index.js'
import type { AnyMigration } from '../../laws/index.js'
import type { Sale } from './support.js'

/** `stats` state at version 1: the total amount. */
export const StatsV1 = t.number
/** Version 2: the total in a record. */
export const StatsV2 = t.type({ total: t.number })
/** Version 3: the total and the number of sales (unknown for sales before version 3: -1 marks it). */
export const StatsV3 = t.type({ total: t.number, n: t.number })

export const stats12 = migration({ from: 1, to: 2, codec: StatsV1, migrate: (old) => ({ total: old }) })
export const stats23 = migration({ from: 2, to: 3, codec: StatsV2, migrate: (old) => ({ total: old.total, n: -1 }) })
/** A direct step that agrees with the chain 1→2→3. */
export const stats13 = migration({ from: 1, to: 3, codec: StatsV1, migrate: (old) => ({ total: old, n: -1 }) })

export const statsV1 = () =>
  aggregate<Grouped<string, Sale>, number, number, 'stats'>({
    name: 'stats', version: 1, state: StatsV1, zero: () => 0, add: (s, r) => s + r.amount, result: (s) => s,
  })

export const statsV2 = (migrations: readonly AnyMigration[] = [stats12]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof StatsV2>, number, 'stats'>({
    name: 'stats', version: 2, state: StatsV2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }),
    result: (s) => s.total, migrations,
  })

export const statsV3 = (migrations: readonly AnyMigration[] = [stats12, stats23]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof StatsV3>, string, 'stats'>({
    name: 'stats', version: 3, state: StatsV3, zero: () => ({ total: 0, n: 0 }),
    add: (s, r) => ({ total: s.total + r.amount, n: s.n + 1 }), result: (s) => `${s.total}/${s.n}`, migrations,
  })

/** `spend` state at version 1: the total amount; version 2 adds the currency, a constant for old state. */
export const SpendV1 = t.number
export const SpendV2 = t.type({ total: t.number, currency: t.literal('EUR') })
export const spend12 = migration({ from: 1, to: 2, codec: SpendV1, migrate: (total) => ({ total, currency: 'EUR' as const }) })

/** `groupBy(user)` + `spend` at version 1: emits each user's running total. */
export const spendV1 = (s: Stream<Sale>) =>
  s.pipe(
    groupBy((r) => r.user, t.string),
    mapGroupsWithState({
      name: 'spend', version: 1, state: SpendV1,
      update: (_user, rows: Sale[], state) => {
        const total = rows.reduce((n, r) => n + r.amount, state.getOption() ?? 0)
        state.update(total)
        return total
      },
    }),
  )

/** `groupBy(user)` + `spend` at version 2, migrating from 1. */
export const spendV2 = (s: Stream<Sale>) =>
  s.pipe(
    groupBy((r) => r.user, t.string),
    mapGroupsWithState({
      name: 'spend', version: 2, state: SpendV2, migrations: [spend12],
      update: (_user, rows: Sale[], state) => {
        const total = rows.reduce((n, r) => n + r.amount, state.getOption()?.total ?? 0)
        state.update({ total, currency: 'EUR' })
        return total
      },
    }),
  )
