import * as t from 'io-ts'
import { freeze } from 'immer'
import { Observable, type OperatorFunction } from 'rxjs'
import {
  type AggregateNode,
  type Aggregator,
  type Grouped,
  type ErasedMigration,
  type ErasedAggregator,
  type Operator,
  type Window,
  withPlan,
} from '../../plan/nodes.js'
import { windowedId } from '../../util/keys.js'
import { keyIdOfGrouped } from './referenceKeys.js'

/** A column aggregator as `count()`, `sum(f)`… carry it, so `agg({...})` can combine them. */
export const AGGREGATORS = Symbol.for('structured-rx.aggregators')

type AnyAggregator = ErasedAggregator
type Columns = readonly (readonly [string, AnyAggregator])[]

/**
 * One aggregator producing the whole column record `{ [name]: result }`. A single column keeps its own state
 * shape (so `count` state is a plain number); several columns keep a record of states, one field per column.
 */
export function combineColumns(columns: Columns): Aggregator<unknown, unknown, Record<string, unknown>> {
  if (columns.length === 1) {
    const [name, a] = columns[0]!
    const add = a.add as (s: unknown, row: unknown) => unknown
    return {
      name,
      version: a.version,
      state: a.state,
      zero: () => a.zero(),
      add,
      merge: a.merge && ((x, y) => a.merge!(x as never, y as never)),
      result: (s) => ({ [name]: a.result(s as never) }),
    }
  }
  const props: Record<string, t.Mixed> = {}
  for (const [name, a] of columns) props[name] = a.state as t.Mixed
  return {
    name: columns.map(([n]) => n).join(','),
    version: 1,
    state: t.type(props) as unknown as t.Type<unknown, unknown, unknown>,
    zero: () => Object.fromEntries(columns.map(([n, a]) => [n, a.zero()])),
    add: (s, row) => {
      const prev = s as Record<string, unknown>
      const next: Record<string, unknown> = {}
      for (const [n, a] of columns) next[n] = (a.add as (s: unknown, r: unknown) => unknown)(prev[n], row)
      return next
    },
    result: (s) => {
      const st = s as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const [n, a] of columns) out[n] = a.result(st[n] as never)
      return out
    },
  }
}

/** The reference (RxJS) semantics of an aggregation: after each grouped row, emit that group's updated result row. */
function referenceAggregation<G, R>(aggregator: Aggregator<unknown, unknown, Record<string, unknown>>): OperatorFunction<G, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const states = new Map<string, unknown>()
      return source.subscribe({
        next(item) {
          const g = item as Grouped<unknown, unknown> & { window?: Window }
          const id = g.window === undefined ? keyIdOfGrouped(g) : windowedId(keyIdOfGrouped(g), g.window)
          let result: Record<string, unknown>
          try {
            const state = aggregator.add(states.has(id) ? states.get(id) : aggregator.zero(), g.value)
            // Committed state is immutable, as in the engine: the next add (or an edited result row) cannot change it.
            states.set(id, freeze(state, true))
            result = aggregator.result(state)
          } catch (e) {
            subscriber.error(e)
            return
          }
          const row = g.window === undefined ? { key: g.key } : { key: g.key, window: g.window }
          subscriber.next({ ...row, ...result } as R)
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      })
    })
}

/** Builds an aggregation operator (reference behaviour + plan node) from named column aggregators. */
export function aggregation<G, R>(
  name: string,
  columns: Columns,
  options: { version?: number; migrations?: readonly ErasedMigration[] } = {},
): Operator<G, R> {
  const combined = combineColumns(columns)
  const node: AggregateNode = {
    kind: 'aggregate',
    name,
    columns,
    aggregator: combined,
    version: options.version ?? combined.version,
    migrations: options.migrations ?? (columns.length === 1 ? (columns[0]![1].migrations ?? []) : []),
  }
  return Object.assign(withPlan(referenceAggregation<G, R>(combined), node), { [AGGREGATORS]: columns })
}

/** The column aggregators an aggregation operator carries, for `agg`. */
export function columnsOf(op: unknown, name: string): Columns {
  const columns = (op as { [AGGREGATORS]?: Columns } | null)?.[AGGREGATORS]
  if (columns?.length !== 1) {
    throw new TypeError(`agg: column '${name}' must be a single aggregation such as count(), sum(f) or aggregate({...})`)
  }
  return columns
}
