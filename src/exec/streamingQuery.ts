import { withTimeout } from '../util/timeout.js'
import type { Observable } from 'rxjs'
import type { StreamingQueryError } from '../errors.js'
import { explainPlan } from '../plan/explain.js'
import { AbandonedBatch, BatchRunner } from './batchRunner.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import { type BatchMeasurements, ProgressReporter } from './progressReporter.js'
import { queryError } from './queryError.js'
import type { QueryRun } from './queryRun.js'
import type { Trigger } from './trigger.js'
import { TriggerLoop } from './triggerLoop.js'

const DEFAULT_STOP_TIMEOUT_MS = 120_000

/**
 * A running streaming query (Spark's StreamingQuery).
 * @example
 * const query = await stream.writeStream({ outputMode: 'complete', sink: consoleSink() }).start()
 * await query.processAllAvailable()
 * console.log(query.lastProgress?.batchId, query.status.message)
 * await query.stop()
 */
export interface StreamingQuery {
  /** Stable id, kept in the checkpoint across restarts. */
  readonly id: string
  /** Id of this run; new on every start. */
  readonly runId: string
  readonly name: string | undefined
  /** When its micro-batches run (as given to `writeStream`; default `processingTime(0)`). */
  readonly trigger: Trigger
  readonly status: StreamingQueryStatus
  readonly lastProgress: StreamingQueryProgress | undefined
  readonly recentProgress: readonly StreamingQueryProgress[]
  /** Every progress update, as it happens. */
  readonly progress$: Observable<StreamingQueryProgress>
  readonly isActive: boolean
  /** The error that terminated the query, if any. */
  readonly exception: StreamingQueryError | undefined
  /**
   * Stops after the running batch (if any) commits. A batch still running after `timeoutMs` (default 120 s; e.g. a
   * sink that hangs) is abandoned uncommitted: the query ends, its lock is released, and a restart re-runs the batch.
   */
  stop(timeoutMs?: number): Promise<void>
  /**
   * Resolves when the query terminates (true), or false after `timeoutMs`.
   * @throws StreamingQueryError when the query failed.
   */
  awaitTermination(timeoutMs?: number): Promise<boolean>
  /** Resolves once everything the source has now has been processed and committed to the sink. */
  processAllAvailable(): Promise<void>
  /** Prints the incremental plan (unless `print` is false) and returns it. */
  explain(print?: boolean): string
}

/**
 * The public handle of a running query: its status, progress, termination and the waiters of
 * `processAllAvailable()`. The work is done by a {@link TriggerLoop} driving a {@link BatchRunner}.
 */
export class MicroBatchQuery implements StreamingQuery {
  status: StreamingQueryStatus = { message: 'Initializing sources', isDataAvailable: false, isTriggerActive: false }
  exception: StreamingQueryError | undefined
  private readonly progress: ProgressReporter
  private active = true
  private finished = false
  private abandonedBatch: number | undefined
  private terminated: Promise<void> = Promise.resolve()
  private loop: TriggerLoop | undefined
  private batches: BatchRunner | undefined
  /** When the last batch or idle progress was recorded; the start counts as one, so a new query reports idle later. */
  private lastNoDataProgressMs = Date.now()
  private idleWaiters: { afterSeq: number; resolve: () => void; reject: (e: unknown) => void }[] = []

  private constructor(private readonly run: QueryRun) {
    this.progress = new ProgressReporter(
      { id: run.id, runId: run.runId, name: run.def.queryName ?? null },
      run.def.source.description,
      run.def.sink.description,
      run.executable.plan.watermark !== undefined,
      run.session.numRecentProgressUpdates,
    )
  }

  /**
   * Recovers state and position from the checkpoint, then starts the trigger loop in the background.
   * @example const query = await MicroBatchQuery.start(run)
   * @throws the checkpoint's errors when its state cannot be restored.
   */
  static async start(run: QueryRun): Promise<MicroBatchQuery> {
    const q = new MicroBatchQuery(run)
    const position = await run.checkpoint.recover(run.executable.operators)
    const batches = new BatchRunner(run, position, {
      setStatus: (message, isDataAvailable, isTriggerActive) => q.setStatus(message, isDataAvailable, isTriggerActive),
      recordProgress: (m) => q.recordProgress(m),
    })
    const loop = new TriggerLoop(run, batches, {
      get isDataAvailable() {
        return q.status.isDataAvailable
      },
      setStatus: (message, isDataAvailable, isTriggerActive) => q.setStatus(message, isDataAvailable, isTriggerActive),
      idle: (seq, triggerStart, latestOffsetMs) => q.wentIdle(seq, triggerStart, latestOffsetMs),
    })
    q.loop = loop
    q.batches = batches
    run.session.onStarted(q)
    q.terminated = loop.runUntilStopped(position.pending).then(
      () => q.finish(undefined),
      (e: unknown) => q.finish(e),
    )
    return q
  }

  get id(): string {
    return this.run.id
  }
  get runId(): string {
    return this.run.runId
  }
  get name(): string | undefined {
    return this.run.def.queryName
  }
  get trigger(): Trigger {
    return this.run.trigger
  }
  get isActive(): boolean {
    return this.active
  }
  get lastProgress(): StreamingQueryProgress | undefined {
    return this.progress.last
  }
  get recentProgress(): readonly StreamingQueryProgress[] {
    return this.progress.recent
  }
  get progress$(): Observable<StreamingQueryProgress> {
    return this.progress.progress$
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    this.loop?.stop()
    const outcome = await withTimeout(this.terminated.then(() => 'stopped' as const), timeoutMs, 'timeout' as const)
    if (outcome === 'timeout' && !this.finished) {
      // The batch may still finish in the background; abandoned, it commits nothing.
      this.batches?.abandon()
      this.abandonedBatch = this.batches?.runningBatchId
      await this.finish(undefined)
    }
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    const done = this.terminated.then(() => {
      if (this.exception) throw this.exception
      return true
    })
    return withTimeout(done, timeoutMs, false)
  }

  processAllAvailable(): Promise<void> {
    if (!this.active) return this.exception ? Promise.reject(this.exception) : Promise.resolve()
    return new Promise((resolve, reject) => {
      this.idleWaiters.push({ afterSeq: (this.loop?.seq ?? 0) + 1, resolve, reject })
      // A processing-time trigger keeps its schedule; the default trigger checks for data right away.
      const { trigger } = this.run
      if (trigger.kind !== 'processingTime' || trigger.intervalMs === 0) this.loop?.wake()
    })
  }

  explain(print = true): string {
    const { executable, def, partitions } = this.run
    const text = explainPlan(executable.plan, def.source.description, def.sink.description, partitions)
    if (print) console.log(text)
    return text
  }

  private setStatus(message: string, isDataAvailable: boolean, isTriggerActive: boolean): void {
    this.status = { message, isDataAvailable, isTriggerActive }
  }

  private recordProgress(measurements: BatchMeasurements): void {
    this.lastNoDataProgressMs = Date.now()
    this.run.session.onProgress(this, this.progress.record(measurements))
  }

  /**
   * An idle trigger. As Spark, an idle query records a progress with no rows and posts onQueryIdle at most every
   * `noDataProgressEventInterval`, counted from the start, the last batch or the last idle report, so the last
   * progress timestamp of an idle query stays fresh while a hung one ages.
   */
  private wentIdle(seq: number, triggerStart: number, latestOffsetMs: number): void {
    const now = Date.now()
    if (now - this.lastNoDataProgressMs >= this.run.session.noDataProgressEventIntervalMs) {
      this.lastNoDataProgressMs = now
      const batches = this.batches!
      const idle = this.progress.recordIdle({
        triggerStart,
        latestOffsetMs,
        elapsedMs: now - triggerStart,
        lastBatchId: batches.nextBatchId - 1,
        committed: batches.progressOffset(batches.committedOffset),
        watermarkMs: batches.watermarkMs,
        sourceMetrics: this.run.reader.metrics?.() ?? {},
      })
      this.run.session.onProgress(this, idle)
      this.run.session.onIdle(this)
    }
    this.setStatus('Waiting for data to arrive', false, false)
    const ready = this.idleWaiters.filter((w) => w.afterSeq <= seq)
    this.idleWaiters = this.idleWaiters.filter((w) => w.afterSeq > seq)
    for (const w of ready) w.resolve()
  }

  private async finish(error: unknown): Promise<void> {
    if (this.finished) return
    this.finished = true
    if (error instanceof AbandonedBatch) error = undefined
    if (error !== undefined) {
      this.exception = queryError(error, this, this.batches?.nextBatchId ?? 0, undefined)
    }
    this.active = false
    const stopped =
      this.abandonedBatch === undefined
        ? 'Stopped'
        : `Stopped; batch ${this.abandonedBatch} was abandoned uncommitted when stop() timed out, and re-runs on restart`
    this.setStatus(this.exception ? `Terminated with exception: ${this.exception.message}` : stopped, false, false)
    for (const w of this.idleWaiters) (this.exception ? w.reject(this.exception) : w.resolve())
    this.idleWaiters = []
    this.progress.complete()
    const { reader, writer, checkpoint } = this.run
    await Promise.allSettled([reader.stop(), writer.stop?.(), checkpoint.close()])
    this.run.session.onTerminated(this)
  }
}
