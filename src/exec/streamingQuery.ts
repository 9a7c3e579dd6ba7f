import type { Observable } from 'rxjs'
import { StreamingQueryError } from '../errors.js'
import type { CompiledPlan } from '../plan/compile.js'
import type { SinkWriter } from '../sinks/sink.js'
import type { Offset, SourceReader } from '../sources/source.js'
import type { PartitionDelta } from '../state/stateStore.js'
import { stableStringify } from '../util/keys.js'
import { type BatchContext, OperatorFailure, type StatefulExec } from './batch.js'
import type { StateOperatorProgress, StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import { ProgressReporter, stateOperatorProgress } from './progressReporter.js'
import type { QueryCheckpoint, RecoveredPosition } from './queryCheckpoint.js'
import { runSteps, type EventTimeStats } from './runBatch.js'
import type { Trigger } from './trigger.js'
import { TriggerWait } from './triggerWait.js'

/** A running streaming query (Spark's StreamingQuery). */
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
  /** Stops after the running batch (if any) commits. */
  stop(): Promise<void>
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

/** Everything a query needs to run, assembled by `writeStream(...).start()`. */
export interface QueryRuntime {
  readonly id: string
  readonly runId: string
  readonly name: string | undefined
  readonly plan: CompiledPlan
  readonly reader: SourceReader<unknown>
  readonly sourceDescription: string
  readonly writer: SinkWriter<unknown>
  readonly sinkDescription: string
  readonly trigger: Trigger
  readonly checkpoint: QueryCheckpoint
  readonly numRecentProgressUpdates: number
  readonly explain: () => string
  /** Called once recovered, before the first trigger; then with every progress, idle trigger and at termination. */
  readonly onStarted: (q: StreamingQuery) => void
  readonly onProgress: (q: StreamingQuery, p: StreamingQueryProgress) => void
  readonly onIdle: (q: StreamingQuery) => void
  readonly onTerminated: (q: StreamingQuery) => void
}

const IDLE_POLL_MS = 10

/** The micro-batch execution loop (Spark's MicroBatchExecution). */
export class MicroBatchQuery implements StreamingQuery {
  status: StreamingQueryStatus = { message: 'Initializing sources', isDataAvailable: false, isTriggerActive: false }
  exception: StreamingQueryError | undefined
  private readonly progress: ProgressReporter
  private stopRequested = false
  private active = true
  private terminated: Promise<void>
  private readonly waiting = new TriggerWait(() => this.stopRequested)
  private unsubscribeData: (() => void) | undefined
  /** The state and commit-log writes of the last batch, running in the background. */
  private backgroundCommit: Promise<void> = Promise.resolve()
  private triggerSeq = 0
  private idleWaiters: { afterSeq: number; resolve: () => void; reject: (e: unknown) => void }[] = []
  private nextBatchId = 0
  private committedOffset: Offset
  private watermarkMs = 0

  private constructor(private readonly rt: QueryRuntime) {
    this.committedOffset = rt.reader.initialOffset()
    this.progress = new ProgressReporter(
      { id: rt.id, runId: rt.runId, name: rt.name ?? null },
      rt.sourceDescription,
      rt.sinkDescription,
      rt.plan.watermark !== undefined,
      rt.numRecentProgressUpdates,
    )
    this.terminated = Promise.resolve()
  }

  /** Recovers from the checkpoint, then starts the loop in the background. */
  static async start(rt: QueryRuntime): Promise<MicroBatchQuery> {
    const q = new MicroBatchQuery(rt)
    const position = await rt.checkpoint.recover(rt.plan.stateful)
    q.nextBatchId = position.nextBatchId
    q.watermarkMs = position.watermarkMs
    if (position.committedOffset !== undefined) q.committedOffset = position.committedOffset
    rt.onStarted(q)
    q.terminated = q.loop(position.pending)
    return q
  }

  get id(): string {
    return this.rt.id
  }
  get runId(): string {
    return this.rt.runId
  }
  get name(): string | undefined {
    return this.rt.name
  }
  get trigger(): Trigger {
    return this.rt.trigger
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

  async stop(): Promise<void> {
    this.stopRequested = true
    this.waiting.request()
    await this.terminated
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    const done = this.terminated.then(() => {
      if (this.exception) throw this.exception
      return true
    })
    if (timeoutMs === undefined) return done
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    try {
      return await Promise.race([done, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  processAllAvailable(): Promise<void> {
    if (!this.active) return this.exception ? Promise.reject(this.exception) : Promise.resolve()
    return new Promise((resolve, reject) => {
      this.idleWaiters.push({ afterSeq: this.triggerSeq + 1, resolve, reject })
      // A processing-time trigger keeps its schedule; the default trigger checks for data right away.
      if (this.rt.trigger.kind !== 'processingTime' || this.rt.trigger.intervalMs === 0) this.waiting.request()
    })
  }

  explain(print = true): string {
    const text = this.rt.explain()
    if (print) console.log(text)
    return text
  }

  private setStatus(message: string, isDataAvailable: boolean, isTriggerActive: boolean): void {
    this.status = { message, isDataAvailable, isTriggerActive }
  }

  private async loop(pending: RecoveredPosition['pending']): Promise<void> {
    const { trigger, reader } = this.rt
    this.unsubscribeData = reader.onDataAvailable?.(() => this.waiting.request())
    try {
      for (const batch of pending) {
        // The write-ahead log says this batch started but never committed: re-run it with exactly those offsets.
        this.watermarkMs = batch.watermarkMs
        await this.runBatch(batch.batchId, batch.start, batch.end, true, batch.batchTimestampMs, 0)
      }
      if (trigger.kind === 'availableNow') await reader.prepareForTriggerAvailableNow?.()
      while (!this.stopRequested) {
        const started = Date.now()
        const ran = await this.runTrigger(trigger.kind === 'once' ? 'all' : 'default')
        if (trigger.kind === 'once') break
        if (trigger.kind === 'availableNow' && !ran) break
        if (this.stopRequested) break
        const intervalMs = trigger.kind === 'processingTime' ? trigger.intervalMs : 0
        const waitMs = intervalMs > 0 ? Math.max(0, started + intervalMs - Date.now()) : ran ? 0 : IDLE_POLL_MS
        if (waitMs > 0) {
          this.setStatus(ran ? 'Waiting for next trigger' : 'Waiting for data to arrive', !ran ? false : this.status.isDataAvailable, false)
          await this.waiting.sleep(waitMs, intervalMs === 0)
        } else {
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
      }
      await this.backgroundCommit
      await this.finish(undefined)
    } catch (e) {
      await this.backgroundCommit.catch(() => undefined)
      await this.finish(e)
    }
  }

  /** One trigger: get offsets; run a batch if there is new data or the watermark/timeouts need a no-data batch. */
  private async runTrigger(limit: 'default' | 'all'): Promise<boolean> {
    const seq = ++this.triggerSeq
    const triggerStart = Date.now()
    this.setStatus(`Getting offsets from ${this.rt.sourceDescription}`, this.status.isDataAvailable, true)
    const t0 = performance.now()
    const end = await this.rt.reader.latestOffset(this.committedOffset, limit)
    const getOffsetMs = performance.now() - t0
    const hasData = stableStringify(end) !== stableStringify(this.committedOffset)
    const needsNoDataBatch =
      !hasData && this.rt.plan.stateful.some((s) => s.needsNoDataBatch(this.watermarkMs, triggerStart))
    if (!hasData && !needsNoDataBatch) {
      // Idle means committed: processAllAvailable() resolves only once the commit log has the last batch.
      await this.backgroundCommit
      // Spark's onQueryIdle: once when the query goes idle, not on every empty poll.
      if (this.status.isDataAvailable || this.triggerSeq === 1) this.rt.onIdle(this)
      this.setStatus('Waiting for data to arrive', false, false)
      this.resolveIdleWaiters(seq)
      return false
    }
    await this.runBatch(this.nextBatchId, this.committedOffset, end, hasData, triggerStart, getOffsetMs)
    return true
  }

  private async runBatch(
    batchId: number,
    start: Offset,
    end: Offset,
    hasData: boolean,
    triggerStart: number,
    getOffsetMs: number,
  ): Promise<void> {
    const { plan, checkpoint, reader, writer } = this.rt
    const clock = performance.now()
    const lap = () => {
      const now = performance.now()
      const ms = now - lapStart
      lapStart = now
      return Math.round(ms)
    }
    let lapStart = clock
    this.setStatus('Processing new data', true, true)
    const watermarkForBatch = this.watermarkMs
    // The offsets are logged while the batch reads and computes; they are durable before any output is written.
    const offsetsLogged = checkpoint.writeOffsets(batchId, start, end, watermarkForBatch, triggerStart)
    offsetsLogged.catch(() => undefined)
    let rows: unknown[]
    try {
      rows = hasData ? await reader.getBatch(start, end) : []
    } catch (e) {
      throw this.queryError(e, batchId, this.rt.sourceDescription)
    }
    const getBatch = lap()
    const ctx: BatchContext = {
      batchId,
      watermarkMs: watermarkForBatch,
      hasWatermark: plan.watermark !== undefined,
      watermarkDelayMs: plan.watermark?.delayMs ?? 0,
      processingTimeMs: triggerStart,
      outputMode: plan.outputMode,
    }
    const queryPlanning = lap()
    let output: unknown[]
    let eventTime: EventTimeStats | undefined
    const stateProgress: StateOperatorProgress[] = []
    const deltas: { operator: StatefulExec; deltas: PartitionDelta[] }[] = []
    try {
      ;({ output, eventTime } = runSteps(plan.steps, rows, ctx))
      for (const op of plan.stateful) {
        stateProgress.push(stateOperatorProgress(op))
        deltas.push({ operator: op, deltas: takeDeltas(op) })
      }
    } catch (e) {
      for (const op of plan.stateful) op.store.discardChanges()
      throw this.queryError(e, batchId, undefined)
    }
    const addBatch = lap()
    await offsetsLogged
    // The previous batch's state and commit ran in the background while this one computed; its failure is ours.
    await this.backgroundCommit
    const walCommit = lap()
    // Without any operator the output is the source's own batch array, which a source may keep for replay
    // (memorySource hands out its addData chunk): the sink gets a copy it is free to mutate.
    if (output === rows) output = rows.slice()
    try {
      await writer.addBatch(batchId, output)
    } catch (e) {
      throw this.queryError(e, batchId, this.rt.sinkDescription)
    }
    const sinkCommit = lap()
    const nextWatermark =
      eventTime !== undefined && plan.watermark !== undefined
        ? Math.max(this.watermarkMs, eventTime.max - plan.watermark.delayMs)
        : this.watermarkMs
    // State and commit log are written in the background: the next batch may compute meanwhile, and a restart re-runs
    // every batch after the last commit, so nothing depends on them until the next commit or a stop.
    this.backgroundCommit = (async () => {
      try {
        await checkpoint.writeState(batchId, deltas)
        await checkpoint.commit(batchId, nextWatermark)
        await reader.commit(end)
      } catch (e) {
        throw this.queryError(e, batchId, undefined)
      }
    })()
    this.backgroundCommit.catch(() => undefined)
    const commitOffsets = lap()
    this.watermarkMs = nextWatermark
    this.committedOffset = end
    this.nextBatchId = batchId + 1
    const elapsedMs = performance.now() - clock + getOffsetMs
    const progress = this.progress.record({
      elapsedMs,
      batchId,
      triggerStart,
      numInputRows: rows.length,
      numOutputRows: output.length,
      durationMs: {
        getOffset: Math.round(getOffsetMs),
        getBatch,
        queryPlanning,
        addBatch: addBatch + sinkCommit,
        walCommit,
        commitOffsets,
        triggerExecution: Math.round(elapsedMs),
      },
      eventTime,
      watermarkMs: watermarkForBatch,
      stateOperators: stateProgress,
      start,
      end,
      sourceMetrics: reader.metrics?.() ?? {},
    })
    this.rt.onProgress(this, progress)
  }

  private resolveIdleWaiters(seq: number): void {
    const ready = this.idleWaiters.filter((w) => w.afterSeq <= seq)
    this.idleWaiters = this.idleWaiters.filter((w) => w.afterSeq > seq)
    for (const w of ready) w.resolve()
  }

  private queryError(e: unknown, batchId: number, fallbackOperator: string | undefined): StreamingQueryError {
    if (e instanceof StreamingQueryError) return e
    const operator = e instanceof OperatorFailure ? e.operator : fallbackOperator
    const cause = e instanceof OperatorFailure ? e.cause : e
    const reason = cause instanceof Error ? cause.message : String(cause)
    return new StreamingQueryError(
      `query ${this.name ? `'${this.name}' ` : ''}[id = ${this.id}, runId = ${this.runId}] failed in batch ${batchId}` +
        `${operator ? ` at ${operator}` : ''}: ${reason}`,
      cause,
      batchId,
      operator,
    )
  }

  private async finish(error: unknown): Promise<void> {
    if (error !== undefined) {
      this.exception =
        error instanceof StreamingQueryError ? error : this.queryError(error, this.nextBatchId, undefined)
    }
    this.active = false
    this.unsubscribeData?.()
    this.setStatus(this.exception ? `Terminated with exception: ${this.exception.message}` : 'Stopped', false, false)
    for (const w of this.idleWaiters) (this.exception ? w.reject(this.exception) : w.resolve())
    this.idleWaiters = []
    this.progress.complete()
    await Promise.allSettled([this.rt.reader.stop(), this.rt.writer.stop?.(), this.rt.checkpoint.close()])
    this.rt.onTerminated(this)
  }
}

function takeDeltas(op: StatefulExec): PartitionDelta[] {
  try {
    return op.store.takeDeltas()
  } catch (e) {
    throw new OperatorFailure(op.name, e)
  }
}
