/**
 * sinks/ — streaming sinks, one file each, written against the `Sink` / `SinkWriter` contract below: idempotent by
 * batchId so that a batch re-run after a crash never duplicates output. Files go through `CheckpointFs`.
 */
import type { CheckpointFs } from '../durable/fs.js'
import type { OutputMode } from '../plan/plan.js'

/**
 * What the query gives a sink when it opens it.
 * @example const sink: Sink<Row> = { description: 'Files', open: async (ctx: SinkContext) => writerFor(`${ctx.queryId}-${ctx.outputMode}`) }
 */
export interface SinkContext {
  /**
   * The query's id: stable across restarts of a checkpointed query (it is stored in the checkpoint), random for a
   * query without one. Sinks tag their commit markers with it so two queries writing to one place never mix.
   */
  readonly queryId: string
  readonly queryName: string | undefined
  /** Where the query keeps its checkpoint; absent without one (a sink that needs one to be idempotent refuses). */
  readonly checkpointLocation?: string
  /**
   * The writer's batch ids never repeat, across restarts too (e.g. timestamps): a sink that needs a checkpoint only to
   * tell re-runs from new batches is idempotent without one.
   */
  readonly uniqueBatchIds?: boolean
  readonly outputMode: OutputMode
  readonly fs: CheckpointFs
  /**
   * Set when the writer serves one task of a query over a partitioned source. Tasks number their batches
   * independently, so a sink shared by the tasks keeps its idempotence per task (e.g. one manifest per task).
   */
  readonly task?: { readonly task: number; readonly tasks: number }
}

/**
 * A streaming sink (Spark's Sink): it must be idempotent by `batchId`, so that a batch re-run after a crash never
 * duplicates output. A sink commits a batch when `addBatch` resolves.
 * @example
 * const printer: Sink<{ key: string }> = {
 *   description: 'Printer',
 *   open: async () => ({ addBatch: async (batchId, rows) => console.log(batchId, rows) }),
 * }
 */
export interface Sink<R> {
  /** Shown in progress and `explain()`. */
  readonly description: string
  open(ctx: SinkContext): Promise<SinkWriter<R>>
}

/**
 * An opened sink.
 * @example
 * const writer: SinkWriter<Row> = {
 *   addBatch: async (batchId, rows) => { await db.upsertBatch(batchId, rows) }, // idempotent by batchId
 *   stop: async () => db.close(),
 * }
 */
export interface SinkWriter<R> {
  addBatch(batchId: number, rows: R[]): Promise<void>
  stop?(): Promise<void>
}
