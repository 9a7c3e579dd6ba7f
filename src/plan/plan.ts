/**
 * plan/ — the query as data. Operators create plan nodes (`nodes.ts`); `compilePlan` turns a pipe of nodes into a
 * `Plan` of stages and stateful operator specs; the fingerprint, `explain()`, the compatibility check and the
 * migration lookup read specs only. The plan knows no operator implementation, executor, store or partition count.
 */
import type {
  AggregateNode,
  DropDuplicatesNode,
  ErasedCodec,
  ErasedMigration,
  GroupByNode,
  MapGroupsWithStateNode,
  StatelessNode,
  TimeoutKind,
} from './nodes.js'

/**
 * Spark's output modes: what the sink receives after each micro-batch.
 * @example const mode: OutputMode = 'update' // append: new rows only; update: changed rows; complete: the whole table
 */
export type OutputMode = 'append' | 'update' | 'complete'

/** The size and slide (ms) of a windowed groupBy. */
export interface WindowSize {
  readonly sizeMs: number
  readonly slideMs: number
}

/** What every stateful operator of a plan declares: its identity, how its state is persisted, and its clocks. */
interface OperatorSpecBase {
  /** Unique within the plan; names the state directory `state/<name>/`. */
  readonly name: string
  /** Where the operator sits in the pipe, e.g. `aggregate #3`, for errors. */
  readonly label: string
  readonly keyCodec: ErasedCodec
  readonly stateCodec: ErasedCodec
  /** Version of the state schema (raised with a migration when the state codec changes). */
  readonly version: number
  /** Steps that carry state written at older versions to `version`. */
  readonly migrations: readonly ErasedMigration[]
  readonly window: WindowSize | undefined
  readonly timeout: TimeoutKind
  /** The operator as `explain()` shows it. */
  readonly description: string
}

/** `groupBy` + an aggregation. */
export interface AggregateOperatorSpec extends OperatorSpecBase {
  readonly kind: 'aggregate'
  readonly groupBy: GroupByNode
  readonly groupByLabel: string
  readonly node: AggregateNode
  /** Whether the watermark closes windows: a watermark exists, keys are windowed and the mode is not complete. */
  readonly evictsByWatermark: boolean
}

/** `dropDuplicates`, keeping keys forever or (with `within`) until the watermark passes them. */
export interface DropDuplicatesOperatorSpec extends OperatorSpecBase {
  readonly kind: 'dropDuplicates' | 'dropDuplicatesWithinWatermark'
  readonly node: DropDuplicatesNode
}

/** `groupBy` + `mapGroupsWithState`. */
export interface MapGroupsWithStateOperatorSpec extends OperatorSpecBase {
  readonly kind: 'mapGroupsWithState'
  readonly groupBy: GroupByNode
  readonly groupByLabel: string
  readonly node: MapGroupsWithStateNode
}

/** A stateful operator of the plan, as data: what the checkpoint records and the executor is built from. */
export type OperatorSpec = AggregateOperatorSpec | DropDuplicatesOperatorSpec | MapGroupsWithStateOperatorSpec

/** One stage of the incremental plan, run in order on each micro-batch. */
export type Stage =
  | { readonly kind: 'stateless'; readonly labels: readonly string[]; readonly nodes: readonly StatelessNode[] }
  | { readonly kind: 'watermark'; readonly label: string; readonly timeOf: (row: unknown) => unknown; readonly delayMs: number }
  | { readonly kind: 'stateful'; readonly operator: OperatorSpec }

/**
 * The compiled incremental plan of a query, as plain data: the stages in order and the stateful operators' specs.
 * It holds no executor, no state store and no partition count; `exec/` builds those from it once the checkpoint
 * has decided the partition count.
 */
export interface Plan {
  readonly stages: readonly Stage[]
  /** The stateful operators, in plan order (state is matched to the checkpoint by this position). */
  readonly operators: readonly OperatorSpec[]
  readonly watermark: { readonly delayMs: number; readonly label: string } | undefined
  readonly outputMode: OutputMode
}
