import { Subject, type Observable } from 'rxjs'
import type { StatefulExec } from './batch.js'
import type { StateOperatorProgress, StreamingQueryProgress } from './progress.js'
import type { EventTimeStats } from './runSteps.js'

/** What one committed micro-batch measured. */
export interface BatchMeasurements {
  readonly batchId: number
  /** Wall-clock start of the trigger that ran the batch (a re-run batch gets its own, not the logged one). */
  readonly triggerStart: number
  /** Exact duration of the trigger in ms (the rounded one is `durationMs.triggerExecution`). */
  readonly elapsedMs: number
  readonly numInputRows: number
  readonly numOutputRows: number
  readonly durationMs: StreamingQueryProgress['durationMs']
  readonly eventTime: EventTimeStats | undefined
  readonly watermarkMs: number
  readonly stateOperators: readonly StateOperatorProgress[]
  /** The offset the batch started from, as the source shows it; null for a first batch. */
  readonly start: unknown
  readonly end: unknown
  readonly sourceMetrics: Readonly<Record<string, number>>
}

/** What an idle trigger (nothing to run) measured. */
export interface IdleMeasurements {
  readonly triggerStart: number
  readonly latestOffsetMs: number
  readonly elapsedMs: number
  /** The last batch that ran (-1 before the first) and the committed offset, as the source shows it. */
  readonly lastBatchId: number
  readonly committed: unknown
  readonly watermarkMs: number
  readonly sourceMetrics: Readonly<Record<string, number>>
}

/** A state operator's figures after a batch (read before its change tracking is reset). */
export function stateOperatorProgress(op: StatefulExec, runTimeMs = 0): StateOperatorProgress {
  return {
    operatorName: op.spec.name,
    numRowsTotal: op.store.size,
    numRowsUpdated: op.store.numRowsUpdated,
    numRowsRemoved: op.store.numRowsRemoved,
    numRowsDroppedByWatermark: op.numRowsDroppedByWatermark,
    memoryUsedBytes: op.store.estimateMemoryBytes(),
    numShufflePartitions: op.store.partitions,
    numStateStoreInstances: op.store.partitions,
    commitTimeMs: 0,
    allUpdatesTimeMs: Math.max(0, Math.round(runTimeMs - op.removalsTimeMs)),
    allRemovalsTimeMs: Math.round(op.removalsTimeMs),
  }
}

/**
 * Turns batch measurements into Spark-shaped progress objects, keeps the most recent ones and publishes each on
 * `progress$`. Input rate is rows over the time since the previous batch's trigger started (0 for the first batch of
 * a run); processing rate is rows over the trigger's own duration (at least 1 ms), as Spark computes them.
 */
export class ProgressReporter {
  private readonly subject = new Subject<StreamingQueryProgress>()
  readonly progress$: Observable<StreamingQueryProgress> = this.subject.asObservable()
  private readonly kept: StreamingQueryProgress[] = []
  private lastTriggerStartMs: number | undefined
  private lastStateOperators: readonly StateOperatorProgress[] = []

  constructor(
    private readonly query: { readonly id: string; readonly runId: string; readonly name: string | null },
    private readonly sourceDescription: string,
    private readonly sinkDescription: string,
    private readonly hasWatermark: boolean,
    private readonly capacity: number,
  ) {}

  get last(): StreamingQueryProgress | undefined {
    return this.kept[this.kept.length - 1]
  }

  get recent(): readonly StreamingQueryProgress[] {
    return this.kept.slice()
  }

  record(b: BatchMeasurements): StreamingQueryProgress {
    const sinceLast = this.lastTriggerStartMs === undefined ? 0 : (b.triggerStart - this.lastTriggerStartMs) / 1000
    this.lastTriggerStartMs = b.triggerStart
    this.lastStateOperators = b.stateOperators
    const inputRowsPerSecond = sinceLast > 0 ? b.numInputRows / sinceLast : 0
    const processedRowsPerSecond = (b.numInputRows * 1000) / Math.max(1, b.elapsedMs)
    return this.publish({
      ...this.query,
      timestamp: iso(b.triggerStart),
      batchId: b.batchId,
      batchDuration: b.durationMs.triggerExecution,
      numInputRows: b.numInputRows,
      inputRowsPerSecond,
      processedRowsPerSecond,
      durationMs: b.durationMs,
      eventTime: this.eventTime(b),
      stateOperators: b.stateOperators,
      sources: [
        {
          description: this.sourceDescription,
          startOffset: b.start,
          endOffset: b.end,
          numInputRows: b.numInputRows,
          inputRowsPerSecond,
          processedRowsPerSecond,
          metrics: b.sourceMetrics,
        },
      ],
      sink: { description: this.sinkDescription, numOutputRows: b.numOutputRows },
    })
  }

  /**
   * The progress of an idle trigger: no rows, the last batch's id and state figures (nothing updated), and the
   * committed offset as both start and end. It does not move the input-rate clock: that measures batches.
   */
  recordIdle(m: IdleMeasurements): StreamingQueryProgress {
    const latestOffset = Math.round(m.latestOffsetMs)
    const durationMs = { latestOffset, getOffset: latestOffset, triggerExecution: Math.round(m.elapsedMs) }
    return this.publish({
      ...this.query,
      timestamp: iso(m.triggerStart),
      batchId: m.lastBatchId,
      batchDuration: durationMs.triggerExecution,
      numInputRows: 0,
      inputRowsPerSecond: 0,
      processedRowsPerSecond: 0,
      durationMs,
      eventTime: this.hasWatermark ? { watermark: iso(m.watermarkMs) } : {},
      stateOperators: this.lastStateOperators.map((s) => ({ ...s, numRowsUpdated: 0, numRowsRemoved: 0, numRowsDroppedByWatermark: 0, commitTimeMs: 0, allUpdatesTimeMs: 0, allRemovalsTimeMs: 0 })),
      sources: [
        {
          description: this.sourceDescription,
          startOffset: m.committed,
          endOffset: m.committed,
          numInputRows: 0,
          inputRowsPerSecond: 0,
          processedRowsPerSecond: 0,
          metrics: m.sourceMetrics,
        },
      ],
      sink: { description: this.sinkDescription, numOutputRows: 0 },
    })
  }

  private publish(fields: Omit<StreamingQueryProgress, 'json' | 'prettyJson'>): StreamingQueryProgress {
    const progress: StreamingQueryProgress = Object.freeze(Object.assign(Object.create(progressMethods) as ProgressMethods, fields))
    this.kept.push(progress)
    if (this.kept.length > this.capacity) this.kept.shift()
    this.subject.next(progress)
    return progress
  }

  complete(): void {
    this.subject.complete()
  }

  private eventTime(b: BatchMeasurements): StreamingQueryProgress['eventTime'] {
    if (!this.hasWatermark) return {}
    if (b.eventTime === undefined) return { watermark: iso(b.watermarkMs) }
    return {
      min: iso(b.eventTime.min),
      max: iso(b.eventTime.max),
      avg: iso(Math.round(b.eventTime.sum / b.eventTime.count)),
      watermark: iso(b.watermarkMs),
    }
  }
}

type ProgressMethods = Pick<StreamingQueryProgress, 'json' | 'prettyJson'>

/** The methods every progress object inherits, so its own enumerable fields are exactly the JSON. */
const progressMethods: ProgressMethods = {
  json(this: StreamingQueryProgress) {
    return JSON.stringify(this)
  },
  prettyJson(this: StreamingQueryProgress) {
    return JSON.stringify(this, null, 2)
  },
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
