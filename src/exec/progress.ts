/** The status of a query right now (Spark's StreamingQueryStatus). */
export interface StreamingQueryStatus {
  readonly message: string
  readonly isDataAvailable: boolean
  readonly isTriggerActive: boolean
}

/** Progress of one state operator in a batch. */
export interface StateOperatorProgress {
  readonly operatorName: string
  readonly numRowsTotal: number
  readonly numRowsUpdated: number
  readonly numRowsRemoved: number
  readonly numRowsDroppedByWatermark: number
  readonly memoryUsedBytes: number
  readonly numShufflePartitions: number
}

/** Progress of the source in a batch. */
export interface SourceProgress {
  readonly description: string
  readonly startOffset: unknown
  readonly endOffset: unknown
  readonly numInputRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
  readonly metrics: Readonly<Record<string, number>>
}

/** The progress of one micro-batch, in the shape of Spark's StreamingQueryProgress. */
export interface StreamingQueryProgress {
  readonly id: string
  readonly runId: string
  readonly name: string | null
  /** ISO-8601 time the trigger started. */
  readonly timestamp: string
  readonly batchId: number
  readonly batchDuration: number
  readonly numInputRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
  readonly durationMs: {
    readonly getOffset: number
    readonly getBatch: number
    readonly queryPlanning: number
    readonly addBatch: number
    readonly walCommit: number
    readonly commitOffsets: number
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
