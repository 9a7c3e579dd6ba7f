import type * as t from 'io-ts'
import type { OperatorFunction } from 'rxjs'

/**
 * Marks the plan node an operator carries beside its RxJS behaviour.
 * @example const node = count()[PLAN] // { kind: 'aggregate', name: 'count', … }
 */
export const PLAN = Symbol.for('structured-rx.plan')

/**
 * An event-time window `[start, end)` in epoch milliseconds.
 * @example const w: Window = { start: Date.parse('2024-01-01T00:00:00Z'), end: Date.parse('2024-01-01T00:00:10Z') } // [start, end)
 */
export interface Window {
  readonly start: number
  readonly end: number
}

/**
 * Window options of `groupBy`: event time of a row, window size and optional slide (ms or `'10 minutes'`).
 * @example groupBy((r: PageView) => r.user, t.string, { window: { time: (r) => r.ts, size: '10 minutes', slide: '5 minutes' } })
 */
export interface WindowSpec<T> {
  readonly time: (row: T) => number
  readonly size: number | string
  readonly slide?: number | string
}

/**
 * An input row tagged with its grouping key (and window), as `groupBy` emits it to the aggregation after it.
 * @example const row: Grouped<string, PageView> = { key: 'alice', value: { user: 'alice', page: '/home', ts: 1000 } }
 */
export interface Grouped<K, T> {
  readonly key: K
  readonly value: T
}

/**
 * A row grouped by key and event-time window.
 * @example const row: WindowGrouped<string, PageView> = { key: 'alice', window: { start: 0, end: 10_000 }, value: view }
 */
export interface WindowGrouped<K, T> extends Grouped<K, T> {
  readonly window: Window
}

/**
 * The result row of an aggregation over `G`: `key`, `window` when grouped by window, plus its columns `C`.
 * @example
 * type Counts = ResultRow<Grouped<string, PageView>, { count: number }> // { key: string } & { count: number }
 * type Windowed = ResultRow<WindowGrouped<string, PageView>, { count: number }> // adds window: Window
 */
export type ResultRow<G, C> = G extends WindowGrouped<infer K, unknown>
  ? { key: K; window: Window } & C
  : G extends Grouped<infer K, unknown>
    ? { key: K } & C
    : never

/** The row type that a `Grouped` stream carries. */
export type ValueOf<G> = G extends Grouped<unknown, infer T> ? T : never
/** The key type of a `Grouped` stream. */
export type KeyOf<G> = G extends Grouped<infer K, unknown> ? K : never

/**
 * An io-ts codec whose encoded form is JSON; state and keys are persisted through it.
 * @example
 * const userKey: Codec<string> = t.string
 * const stats: Codec<{ n: number; total: number }> = t.type({ n: t.number, total: t.number })
 */
export type Codec<A> = t.Type<A, unknown, unknown>

/**
 * A typed, mergeable aggregation: the building block of `count`, `sum`, `avg`, `min`, `max`, `agg` and `aggregate`.
 * `add` must not mutate its input state (return a new value) so a failed batch never leaves state half-updated.
 * @example
 * const total: Aggregator<Sale, number, number> = {
 *   name: 'total', version: 1, state: t.number, zero: () => 0, add: (s, r) => s + r.amount, merge: (a, b) => a + b, result: (s) => s,
 * }
 */
export interface Aggregator<T, S, R> {
  readonly name: string
  readonly version: number
  readonly state: Codec<S>
  zero(): S
  add(state: S, row: T): S
  merge?(a: S, b: S): S
  result(state: S): R
  readonly migrations?: readonly Migration<unknown, S>[]
}

/**
 * One step of a typed state migration: state written at `from` (decoded by `codec`) becomes state of `to`.
 * @example const toV2: Migration<number, { total: number; n: number }> = { from: 1, to: 2, codec: t.number, migrate: (total) => ({ total, n: 0 }) }
 */
export interface Migration<Old, New> {
  readonly from: number
  readonly to: number
  readonly codec: Codec<Old>
  migrate(old: Old): New
}

/**
 * Types one migration step, so `migrate` gets the old state's type from `codec`.
 * @example migration({ from: 1, to: 2, codec: t.type({ n: t.number }), migrate: (old) => ({ n: old.n, total: 0 }) })
 */
export function migration<Old, New>(step: Migration<Old, New>): Migration<Old, New> {
  return step
}

type Fn = (row: never) => unknown

/** A codec with its types erased, as plan nodes store them. */
export type ErasedCodec = t.Mixed

/** An aggregator with its types erased, as plan nodes store it. */
export interface ErasedAggregator {
  readonly name: string
  readonly version: number
  readonly state: ErasedCodec
  zero(): unknown
  add(state: never, row: never): unknown
  merge?(a: never, b: never): unknown
  result(state: never): unknown
  readonly migrations?: readonly ErasedMigration[]
}

/**
 * A migration step with its types erased.
 * @example const steps: readonly ErasedMigration[] = [migration({ from: 1, to: 2, codec: t.number, migrate: (total) => ({ total, n: 0 }) })]
 */
export interface ErasedMigration {
  readonly from: number
  readonly to: number
  readonly codec: ErasedCodec
  migrate(old: never): unknown
}

/** Stateless nodes fuse into one per-batch function. */
export type StatelessNode =
  | { readonly kind: 'map'; readonly fn: Fn }
  | { readonly kind: 'filter'; readonly fn: Fn }
  | { readonly kind: 'flatMap'; readonly fn: Fn }

/** `withWatermark(timeOf, delay)`: tracks event time; late rows are dropped by the stateful operators after it. */
export interface WatermarkNode {
  readonly kind: 'withWatermark'
  readonly timeOf: Fn
  readonly delayMs: number
}

/** `groupBy(keyOf, keyCodec, { window })`: must be followed by an aggregation, which it becomes part of. */
export interface GroupByNode {
  readonly kind: 'groupBy'
  readonly keyOf: Fn
  readonly keyCodec: ErasedCodec
  readonly window?: { readonly time: Fn; readonly sizeMs: number; readonly slideMs: number }
}

/** An aggregation after `groupBy`. */
export interface AggregateNode {
  readonly kind: 'aggregate'
  /** Column names and their aggregators; `count()` is `[['count', countAggregator]]`. */
  readonly columns: readonly (readonly [string, ErasedAggregator])[]
  /** The columns combined into one aggregator whose result is the column record. */
  readonly aggregator: Aggregator<unknown, unknown, Record<string, unknown>>
  /** Stable operator name, used for the state directory and in errors. */
  readonly name: string
  readonly version: number
  readonly migrations: readonly ErasedMigration[]
}

/** `dropDuplicates(keyOf, keyCodec, { within })`. */
export interface DropDuplicatesNode {
  readonly kind: 'dropDuplicates'
  readonly keyOf: Fn
  readonly keyCodec: ErasedCodec
  readonly within?: Fn
  readonly name: string
  readonly version: number
}

/** Timeout kinds of `mapGroupsWithState`, as in Spark's GroupStateTimeout. */
export type TimeoutKind = 'none' | 'processingTime' | 'eventTime'

/** `mapGroupsWithState({ ... })`. */
export interface MapGroupsWithStateNode {
  readonly kind: 'mapGroupsWithState'
  readonly name: string
  readonly version: number
  /** Overrides the key codec of the `groupBy` before it. */
  readonly keyCodec?: ErasedCodec
  readonly stateCodec: ErasedCodec
  readonly update: (key: never, rows: never[], state: never) => unknown
  readonly timeout: TimeoutKind
  readonly migrations: readonly ErasedMigration[]
}

/**
 * The key under which the library's partitioned streams for `repartition` carry their name. Only
 * `jetStreamPartitions` and `redisStreamPartitions` set it, so `via` accepts nothing else (a source or a sink does not
 * type-check as one).
 */
export const REPARTITION_VIA: unique symbol = Symbol('structured-rx.repartitionVia')

/**
 * Where `repartition` writes rows by key and reads them back, as a query's code names it: a partitioned stream built
 * by `jetStreamPartitions` or `redisStreamPartitions`. The plan keeps only its name; the session finds the stream by
 * that name when the query starts.
 * @example const via: RepartitionTarget<Click> = jetStreamPartitions({ servers, stream: 'CLICKS_BY_USER', subject: 'clicks-by-user', partitions: 8, codec: Click })
 */
export interface RepartitionTarget<T> {
  /** The name the stream was registered under when it was built. */
  readonly [REPARTITION_VIA]: string
  readonly description: string
  /** Every row is encoded with this codec, written as JSON and decoded with it when read back; part one refuses a row that is not a value of it. */
  readonly codec: Codec<T>
}

/** `repartition(keyOf, keyCodec, { via })`: the query before it writes rows into `via` by key; the rest runs as tasks over `via`. */
export interface RepartitionNode {
  readonly kind: 'repartition'
  readonly keyOf: Fn
  readonly keyCodec: ErasedCodec
  /**
   * The partitioned stream by name (undefined when what was given is not one of the library's) and as errors name
   * it; no connection, partition count or codec: those belong to the stream, found by name at start.
   */
  readonly via: { readonly name: string | undefined; readonly description: string }
}

/** The plan nodes of stateful operators. */
export type StatefulNode = AggregateNode | DropDuplicatesNode | MapGroupsWithStateNode
/**
 * What an operator contributes to the incremental plan (pure data: functions, codecs, names), read by `Stream.pipe`.
 * @example stream.pipe(filter((r) => r.ok), count()).planNodes.map((n) => n.kind) // ['filter', 'aggregate']
 */
export type PlanNode = StatelessNode | WatermarkNode | GroupByNode | StatefulNode | RepartitionNode

/**
 * What sets a structured-rx operator apart from a plain RxJS one: the plan node it carries.
 * @example const isOperator = (f: unknown): f is StructuredRxOperator => typeof f === 'function' && PLAN in f
 */
export interface StructuredRxOperator {
  readonly [PLAN]: PlanNode
}

/**
 * An RxJS operator (the reference semantics) that also carries its plan node (the incremental semantics). The
 * plan-node part comes first so that passing a plain RxJS operator to `pipe` fails on the missing `[PLAN]`.
 * @example const pages: Operator<PageView, string> = map((r: PageView) => r.page) // an RxJS operator with a plan node
 */
export type Operator<A, B> = StructuredRxOperator & OperatorFunction<A, B>

/** Attaches a plan node to an RxJS operator function. */
export function withPlan<A, B>(fn: OperatorFunction<A, B>, node: PlanNode): Operator<A, B> {
  return Object.assign(fn, { [PLAN]: node })
}

/** The plan node an operator carries, or an error naming what was passed instead. */
export function planNodeOf(op: unknown, position: number): PlanNode {
  const node = (op as { [PLAN]?: PlanNode } | null)?.[PLAN]
  if (node === undefined) {
    throw new TypeError(
      `argument ${position + 1} of pipe() is not a structured-rx operator; plain RxJS operators cannot be ` +
        'compiled into an incremental plan (use map/filter/flatMap from structured-rx)',
    )
  }
  return node
}
