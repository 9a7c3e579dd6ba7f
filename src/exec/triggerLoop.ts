import type { PendingBatch } from '../checkpoint/queryCheckpoint.js'
import { stableStringify } from '../util/keys.js'
import type { BatchRunner } from './batchRunner.js'
import type { QueryRun } from './queryRun.js'
import { TriggerWait } from './triggerWait.js'

/** The first wait between polls of a source without new data; it doubles on every empty poll up to the maximum. */
const IDLE_POLL_MS = 10
const IDLE_POLL_MAX_MS = 1000

/** What the trigger loop tells the query handle. */
export interface TriggerLoopHost {
  readonly isDataAvailable: boolean
  setStatus(message: string, isDataAvailable: boolean, isTriggerActive: boolean): void
  /** Trigger `seq`, started at `triggerStart`, found nothing to do, and everything before it is committed. */
  idle(seq: number, triggerStart: number, latestOffsetMs: number): void
}

/**
 * The trigger loop (Spark's MicroBatchExecution loop): re-runs the batches recovery found pending, then on every
 * trigger asks the source for its latest offset and runs a batch when there is new data or the watermark or a
 * timeout needs a no-data batch; between triggers it waits as the trigger says.
 */
export class TriggerLoop {
  private stopRequested = false
  private readonly waiting = new TriggerWait(() => this.stopRequested)
  private triggerSeq = 0

  constructor(
    private readonly run: QueryRun,
    private readonly batches: BatchRunner,
    private readonly host: TriggerLoopHost,
  ) {}

  /** The number of the last trigger started. */
  get seq(): number {
    return this.triggerSeq
  }

  /** Ends the loop after the running batch (if any). */
  stop(): void {
    this.stopRequested = true
    this.waiting.request()
  }

  /** Cuts the wait before the next trigger short (new data, `processAllAvailable()`). */
  wake(): void {
    this.waiting.request()
  }

  /**
   * Runs until stopped or the trigger is done, then waits for the last commit.
   * @throws the StreamingQueryError of the batch or commit that failed, after background writes have settled.
   */
  async runUntilStopped(pending: readonly PendingBatch[]): Promise<void> {
    const { trigger, reader } = this.run
    const unsubscribe = reader.onDataAvailable?.(() => this.waiting.request())
    try {
      // The write-ahead log says these batches started but never committed: re-run them with exactly those offsets.
      for (const batch of pending) await this.batches.rerun(batch)
      if (trigger.kind === 'availableNow') await reader.prepareForTriggerAvailableNow?.()
      let idleMs = IDLE_POLL_MS
      while (!this.stopRequested) {
        const started = Date.now()
        const ran = await this.runTrigger(trigger.kind === 'once' ? 'all' : 'default')
        if (trigger.kind === 'once') break
        if (trigger.kind === 'availableNow' && !ran) break
        if (this.stopRequested) break
        const intervalMs = trigger.kind === 'processingTime' ? trigger.intervalMs : 0
        // An idle source is polled less and less often (new data announced by the source still wakes the loop at once).
        const waitMs = intervalMs > 0 ? Math.max(0, started + intervalMs - Date.now()) : ran ? 0 : idleMs
        idleMs = ran ? IDLE_POLL_MS : Math.min(idleMs * 2, IDLE_POLL_MAX_MS)
        if (waitMs > 0) {
          this.host.setStatus(ran ? 'Waiting for next trigger' : 'Waiting for data to arrive', !ran ? false : this.host.isDataAvailable, false)
          await this.waiting.sleep(waitMs, intervalMs === 0)
        } else {
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
      }
      await this.batches.settled()
    } catch (e) {
      await this.batches.settled().catch(() => undefined)
      throw e
    } finally {
      unsubscribe?.()
    }
  }

  /** One trigger: get offsets; run a batch if there is new data or the watermark/timeouts need a no-data batch. */
  private async runTrigger(limit: 'default' | 'all'): Promise<boolean> {
    const seq = ++this.triggerSeq
    const triggerStart = Date.now()
    const { reader, executable, def } = this.run
    this.host.setStatus(`Getting offsets from ${def.source.description}`, this.host.isDataAvailable, true)
    const t0 = performance.now()
    const end = await reader.latestOffset(this.batches.committedOffset, limit)
    const getOffsetMs = performance.now() - t0
    const hasData = stableStringify(end) !== stableStringify(this.batches.committedOffset)
    const needsNoDataBatch =
      !hasData && executable.operators.some((s) => s.needsNoDataBatch(this.batches.watermarkMs, triggerStart))
    if (!hasData && !needsNoDataBatch) {
      // Idle means committed: processAllAvailable() resolves only once the commit log has the last batch.
      await this.batches.settled()
      this.host.idle(seq, triggerStart, getOffsetMs)
      return false
    }
    await this.batches.runNext(end, hasData, triggerStart, getOffsetMs)
    return true
  }
}
