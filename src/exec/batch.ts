import type { OutputMode, OperatorSpec } from '../plan/plan.js'
import type { StateStore } from '../state/stateStore.js'

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

/**
 * A stateful operator of the running plan: consumes a batch of rows, updates its state, returns its output. A batch
 * may come in blocks: `begin`, then `add` for each block of the batch's rows in order (any number, empty ones too),
 * then `finish`, which returns the batch's output. Whatever the blocks, the state and the output are those of
 * `run` over all the rows at once: the watermark, late rows and output are decided per batch, never per block.
 */
export interface StatefulExec {
  /** What the plan declares about the operator. */
  readonly spec: OperatorSpec
  readonly store: StateStore
  /** Rows this operator dropped as late in the last batch. */
  readonly numRowsDroppedByWatermark: number
  /** Time the last batch spent removing state (watermark eviction, timed-out groups), in ms. */
  readonly removalsTimeMs: number
  /** The whole batch at once: `begin(ctx)`, `add(rows)`, `finish(ctx)`. */
  run(rows: unknown[], ctx: BatchContext): unknown[]
  /** Starts a batch. */
  begin(ctx: BatchContext): void
  /** Folds the next block of the batch's rows into state; the rows may be collected once it returns. */
  add(rows: unknown[]): void
  /** Ends the batch: emits (and evicts) what the batch's rows and watermark decide. */
  finish(ctx: BatchContext): unknown[]
  /** Whether a batch without new data would emit or evict something (Spark's no-data micro-batch). */
  needsNoDataBatch(nextWatermarkMs: number, nowMs: number): boolean
}
