import type { OperatorDeltas, PendingBatch, RecoveredPosition } from '../checkpoint/queryCheckpoint.js'
import { OperatorFailure } from '../errors.js'
import type { PartitionDelta } from '../state/stateStore.js'
import type { Offset } from '../util/json.js'
import type { BatchContext, StatefulExec } from './batch.js'
import type { StateOperatorProgress } from './progress.js'
import { type BatchMeasurements, stateOperatorProgress } from './progressReporter.js'
import { queryError } from './queryError.js'
import type { QueryRun } from './queryRun.js'
import { BatchFold, type BatchResult } from './runSteps.js'

/** How the runner leaves a batch that `stop(timeoutMs)` abandoned: nothing of it may be committed. */
export class AbandonedBatch extends Error {}

/** What the batch runner tells the query handle. */
export interface BatchRunnerHost {
  setStatus(message: string, isDataAvailable: boolean, isTriggerActive: boolean): void
  /** A batch committed to the sink: publish its progress. */
  recordProgress(measurements: BatchMeasurements): void
}

/**
 * Runs one micro-batch at a time (Spark's runBatch): log the offsets → read the rows → run the plan's steps → write
 * the sink → write state and commit in the background. It owns the query's position: the next batch id, the
 * committed source offset and the watermark.
 */
export class BatchRunner {
  nextBatchId: number
  committedOffset: Offset
  watermarkMs: number
  /** The batch running now, or the last one that ran. */
  runningBatchId: number | undefined
  /** The state and commit-log writes of the last batch, running in the background. */
  private backgroundCommit: Promise<void> = Promise.resolve()
  private abandoned = false

  constructor(
    private readonly run: QueryRun,
    position: RecoveredPosition,
    private readonly host: BatchRunnerHost,
  ) {
    this.nextBatchId = position.nextBatchId
    this.watermarkMs = position.watermarkMs
    this.committedOffset = position.committedOffset ?? run.reader.initialOffset()
  }

  /**
   * Gives up on the running batch: whatever it still does, it commits nothing (no sink commit is awaited, no state
   * or commit-log write starts), so a restart re-runs it.
   */
  abandon(): void {
    this.abandoned = true
  }

  /** Resolves once the last batch's state and commit are durable; rejects with their failure. */
  settled(): Promise<void> {
    return this.backgroundCommit
  }

  /**
   * Re-runs a batch the write-ahead log says started but never committed, with exactly its logged offsets and batch
   * timestamp; its progress gets the time of this trigger (not the logged one, which would count the downtime).
   */
  rerun(batch: PendingBatch): Promise<void> {
    this.watermarkMs = batch.watermarkMs
    return this.runBatch(batch.batchId, batch.start, batch.end, true, batch.batchTimestampMs, Date.now(), 0)
  }

  /** Runs the next batch over `(committedOffset, end]` (no rows when `hasData` is false: a no-data batch). */
  runNext(end: Offset, hasData: boolean, triggerStart: number, getOffsetMs: number): Promise<void> {
    return this.runBatch(this.nextBatchId, this.committedOffset, end, hasData, triggerStart, triggerStart, getOffsetMs)
  }

  /** An offset as progress shows it. */
  progressOffset(offset: Offset): unknown {
    return this.run.reader.progressOffset?.(offset) ?? offset
  }

  private async runBatch(
    batchId: number,
    start: Offset,
    end: Offset,
    hasData: boolean,
    batchTimestampMs: number,
    triggerStart: number,
    getOffsetMs: number,
  ): Promise<void> {
    const { executable, checkpoint, reader, writer, def } = this.run
    const { plan } = executable
    this.runningBatchId = batchId
    const clock = performance.now()
    const lap = () => {
      const now = performance.now()
      const ms = now - lapStart
      lapStart = now
      return Math.round(ms)
    }
    let lapStart = clock
    // A no-data batch runs only for the watermark or timeouts: Spark's status says so.
    if (hasData) this.host.setStatus('Processing new data', true, true)
    else this.host.setStatus('No new data but cleaning up state', false, true)
    const watermarkForBatch = this.watermarkMs
    // The offsets are logged while the batch reads and computes; they are durable before any output is written.
    let walCommit = 0
    const offsetsLogged = checkpoint.writeOffsets(batchId, start, end, watermarkForBatch, batchTimestampMs).then(() => {
      walCommit = Math.round(performance.now() - clock)
    })
    offsetsLogged.catch(() => undefined)
    const ctx: BatchContext = {
      batchId,
      watermarkMs: watermarkForBatch,
      hasWatermark: plan.watermark !== undefined,
      watermarkDelayMs: plan.watermark?.delayMs ?? 0,
      processingTimeMs: batchTimestampMs,
      outputMode: plan.outputMode,
    }
    const queryPlanning = lap()
    // The source hands its rows over a block at a time where it can, and each block runs through the steps up to
    // the first stateful operator before the next is read: a batch's rows die young instead of all living until
    // the batch has been read. The batch's result is the same as over one array of all its rows.
    const fold = new BatchFold(executable.steps, ctx)
    let numInputRows = 0
    let result: BatchResult
    const stateProgress: StateOperatorProgress[] = []
    const deltas: OperatorDeltas[] = []
    const readStarted = performance.now()
    let readMs = 0
    try {
      if (hasData && reader.readBatch !== undefined) numInputRows = await reader.readBatch(start, end, (block) => fold.add(block))
      else if (hasData) {
        const rows = await reader.getBatch(start, end)
        numInputRows = rows.length
        fold.add(rows)
      }
      result = fold.finish()
      // Reading took the time until the last row was read, less what the operators spent folding meanwhile, which
      // counts, as before, in the time of the batch's execution (addBatch).
      let foldMs = 0
      for (const ms of result.operatorTimesMs.values()) foldMs += ms
      readMs = Math.max(0, performance.now() - readStarted - foldMs)
      for (const op of executable.operators) {
        stateProgress.push(stateOperatorProgress(op, result.operatorTimesMs.get(op)))
        deltas.push({ operator: op, deltas: takeDeltas(op) })
      }
    } catch (e) {
      for (const op of executable.operators) op.store.discardChanges()
      // The query may terminate (and release its lock) only once nothing of it is still writing.
      await offsetsLogged.catch(() => undefined)
      // An error the fold threw is an operator's; any other is the source's (a state failure names its operator).
      throw this.error(e, batchId, fold.failure?.error === e ? undefined : def.source.description)
    }
    const getBatch = Math.round(readMs)
    lapStart = readStarted + readMs
    const { eventTime } = result
    const output = result.output
    if (this.abandoned) {
      await offsetsLogged.catch(() => undefined)
      throw new AbandonedBatch()
    }
    // The state files are written from here on, beside the offsets and the sink: a restart deletes state files of
    // batches after the last commit, so they may land before anything else of this batch; only commits/N needs them.
    // writeState encodes everything before its first await, so the next batch may change the state meanwhile.
    const stateStart = performance.now()
    let stateWriteMs = 0
    const stateWritten = checkpoint.writeState(batchId, deltas).then(() => {
      stateWriteMs = Math.round(performance.now() - stateStart)
    })
    stateWritten.catch(() => undefined)
    // Nothing of this batch may still be writing when the query ends (and gives up its lock).
    const failed = async (error: unknown): Promise<never> => {
      await stateWritten.catch(() => undefined)
      throw error
    }
    await offsetsLogged.catch(failed)
    // The previous batch's commit ran in the background while this one computed; its failure is ours.
    await this.backgroundCommit.catch(failed)
    const numOutputRows = output.length
    try {
      await writer.addBatch(batchId, output)
    } catch (e) {
      await failed(this.abandoned ? new AbandonedBatch() : this.error(e, batchId, def.sink.description))
    }
    if (this.abandoned) await failed(new AbandonedBatch())
    const addBatch = lap()
    const nextWatermark =
      eventTime !== undefined && plan.watermark !== undefined
        ? Math.max(this.watermarkMs, eventTime.max - plan.watermark.delayMs)
        : this.watermarkMs
    const sourceMetrics = reader.metrics?.() ?? {}
    // The lock is checked and commits/N handed to the file system before this batch returns, so that the next
    // batch's computation never holds it up: it is written once the state files are durable, and a restart re-runs
    // every batch after the last commit, so nothing depends on it until the next batch's sink or a stop.
    const commitStart = performance.now()
    let committed: { readonly durable: Promise<void> } | undefined
    try {
      committed = await checkpoint.commit(batchId, nextWatermark, () => !this.abandoned)
    } catch (e) {
      return failed(this.error(e, batchId, undefined))
    }
    if (committed === undefined) return failed(new AbandonedBatch())
    const { durable } = committed
    // The batch's progress is posted once its commit is durable: a listener never sees a batch that a crash would
    // re-run.
    this.backgroundCommit = (async () => {
      try {
        await stateWritten
        const commitTimeMs = stateWriteMs
        await durable
        await reader.commit(end)
        const elapsedMs = performance.now() - clock + getOffsetMs
        this.host.recordProgress({
          elapsedMs,
          batchId,
          triggerStart,
          numInputRows,
          numOutputRows,
          durationMs: {
            latestOffset: Math.round(getOffsetMs),
            getOffset: Math.round(getOffsetMs),
            getBatch,
            queryPlanning,
            addBatch,
            walCommit,
            commitOffsets: Math.round(performance.now() - commitStart),
            triggerExecution: Math.round(elapsedMs),
          },
          eventTime,
          watermarkMs: watermarkForBatch,
          stateOperators: stateProgress.map((s) => ({ ...s, commitTimeMs })),
          start: batchId === 0 ? null : this.progressOffset(start),
          end: this.progressOffset(end),
          sourceMetrics,
        })
      } catch (e) {
        throw this.error(e, batchId, undefined)
      }
    })()
    this.backgroundCommit.catch(() => undefined)
    this.watermarkMs = nextWatermark
    this.committedOffset = end
    this.nextBatchId = batchId + 1
  }

  private error(e: unknown, batchId: number, fallbackOperator: string | undefined) {
    return queryError(e, { id: this.run.id, runId: this.run.runId, name: this.run.def.queryName }, batchId, fallbackOperator)
  }
}

function takeDeltas(op: StatefulExec): PartitionDelta[] {
  try {
    return op.store.takeDeltas()
  } catch (e) {
    throw new OperatorFailure(op.spec.name, e)
  }
}
