import type { ErasedMigration } from '../plan/nodes.js'
import type { StateStore } from '../state/stateStore.js'

/** Spark's output modes: what the sink receives after each micro-batch. */
export type OutputMode = 'append' | 'update' | 'complete'

/** What a stateful operator needs to know about the micro-batch it runs in. */
export interface BatchContext {
  readonly batchId: number
  /** The watermark for this batch: computed from the event times of the batches before it. */
  readonly watermarkMs: number
  readonly hasWatermark: boolean
  readonly watermarkDelayMs: number
  /** The batch's processing timestamp (epoch ms), the clock of processing-time timeouts. */
  readonly processingTimeMs: number
  readonly outputMode: OutputMode
}

/** A stateful operator of the incremental plan: consumes a batch of rows, updates its state, returns its output. */
export interface StatefulExec {
  readonly name: string
  readonly kind: 'aggregate' | 'dropDuplicates' | 'dropDuplicatesWithinWatermark' | 'mapGroupsWithState'
  readonly store: StateStore
  /** Version of the operator's state schema (raised with a migration when the state codec changes). */
  readonly version: number
  /** Steps that carry state written at older versions to `version`. */
  readonly migrations: readonly ErasedMigration[]
  /** Timeout kind (mapGroupsWithState) or 'none'. */
  readonly timeout: string
  /** Rows this operator dropped as late in the last batch. */
  readonly numRowsDroppedByWatermark: number
  run(rows: unknown[], ctx: BatchContext): unknown[]
  /** Whether a batch without new data would emit or evict something (Spark's no-data micro-batch). */
  needsNoDataBatch(nextWatermarkMs: number, nowMs: number): boolean
}

/** A user function threw inside an operator; the executor turns it into a StreamingQueryError with the batch id. */
export class OperatorFailure extends Error {
  constructor(
    readonly operator: string,
    override readonly cause: unknown,
  ) {
    super(`operator '${operator}' failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}
