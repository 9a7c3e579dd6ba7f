/**
 * The status of a query right now (Spark's StreamingQueryStatus).
 * @example query.status // { message: 'Waiting for data to arrive', isDataAvailable: false, isTriggerActive: false }
 */
export interface StreamingQueryStatus {
  readonly message: string
  readonly isDataAvailable: boolean
  readonly isTriggerActive: boolean
}

/**
 * Progress of one state operator in a batch.
 * @example const stateRows = query.lastProgress?.stateOperators.reduce((n, op) => n + op.numRowsTotal, 0)
 */
export interface StateOperatorProgress {
  readonly operatorName: string
  readonly numRowsTotal: number
  readonly numRowsUpdated: number
  readonly numRowsRemoved: number
  readonly numRowsDroppedByWatermark: number
  readonly memoryUsedBytes: number
  readonly numShufflePartitions: number
  /** State store instances the operator keeps (one per shuffle partition). */
  readonly numStateStoreInstances: number
  /** Time writing this batch's state changes to the checkpoint, all operators together (0 without a checkpoint). */
  readonly commitTimeMs: number
  /** Time the operator spent folding this batch's rows into state and emitting its output (removals excluded). */
  readonly allUpdatesTimeMs: number
  /** Time the operator spent in its removal phase: scanning for and evicting windows and duplicates behind the watermark, calling timed-out groups. */
  readonly allRemovalsTimeMs: number
}

/**
 * Progress of the source in a batch.
 * @example
 * const [source] = query.lastProgress!.sources
 * console.log(source.description, source.startOffset, '→', source.endOffset, source.numInputRows)
 */
export interface SourceProgress {
  readonly description: string
  /** Where the batch started reading: null for a first batch (the source had nothing committed yet). */
  readonly startOffset: unknown
  readonly endOffset: unknown
  readonly numInputRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * The progress of one micro-batch, in the shape of Spark's StreamingQueryProgress.
 * @example query.progress$.subscribe((p) => console.log(`batch ${p.batchId}: ${p.numInputRows} rows, ${p.processedRowsPerSecond.toFixed(0)} rows/s`))
 */
export interface StreamingQueryProgress {
  readonly id: string
  readonly runId: string
  readonly name: string | null
  /** ISO-8601 time the trigger started. */
  readonly timestamp: string
  /** The batch; an idle progress repeats the id of the last batch that ran (-1 before the first). */
  readonly batchId: number
  readonly batchDuration: number
  readonly numInputRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
  /**
   * Where the trigger's time went, in ms (Spark's keys): `latestOffset` asking the source for its newest offset;
   * `walCommit` writing the offsets to the write-ahead log (runs alongside reading); `getBatch` reading the rows;
   * `queryPlanning` preparing the batch's context; `addBatch` running the operators and writing the sink (and
   * waiting for the previous batch's commit, when it is still being written); `commitOffsets` writing state, the
   * commit log and the source commit; `triggerExecution` the whole trigger, up to the durable commit. A progress of
   * an idle trigger (no batch ran) has only `latestOffset`, `getOffset` and `triggerExecution`. `getOffset` is the
   * same figure as `latestOffset` under the name Spark's older sources report it with, so dashboards built for either
   * name find it.
   */
  readonly durationMs: {
    readonly latestOffset: number
    readonly getOffset: number
    readonly getBatch?: number
    readonly queryPlanning?: number
    readonly addBatch?: number
    readonly walCommit?: number
    readonly commitOffsets?: number
    readonly triggerExecution: number
  }
  /** Event-time statistics of the batch's rows and the watermark, as ISO-8601 strings (empty without a watermark). */
  readonly eventTime: { readonly min?: string; readonly max?: string; readonly avg?: string; readonly watermark?: string }
  readonly stateOperators: readonly StateOperatorProgress[]
  readonly sources: readonly SourceProgress[]
  readonly sink: { readonly description: string; readonly numOutputRows: number }
  /** The progress as compact JSON text, like Spark's `progress.json` (`JSON.stringify(progress)` gives the same). */
  json(): string
  /** The progress as indented JSON text, like Spark's `progress.prettyJson`. */
  prettyJson(): string
}

/**
 * Whether a progress reports an idle trigger (no batch ran) rather than a batch: it has no `addBatch` duration.
 * @example query.recentProgress.filter((p) => !isIdleProgress(p)).map((p) => p.batchId)
 */
export function isIdleProgress(p: StreamingQueryProgress): boolean {
  return p.durationMs.addBatch === undefined
}
