import type { Subscription } from 'rxjs'
import { nodeFs } from '../durable/fs.js'
import type { StreamingQueryProgress } from '../exec/progress.js'
import type { Session, StreamingQueryEvent } from '../session.js'
import type { Sink, SinkWriter } from '../sinks/sink.js'
import { observeEvents } from './queryDirectory.js'

/**
 * One life-cycle event as `forwardProgress` writes it: a flat record a second query can read back.
 * @example
 * const events = memorySink<ForwardedEvent>()
 * await forwardProgress(session, events)
 * events.rows().filter((e) => e.type === 'progress').map((e) => e.progress!.numInputRows)
 */
export interface ForwardedEvent {
  readonly type: StreamingQueryEvent['type']
  readonly id: string
  readonly runId: string
  readonly name: string | null
  /** ISO-8601: the trigger start of a progress, the time of any other event. */
  readonly timestamp: string
  /** The progress, for `type: 'progress'`. */
  readonly progress?: StreamingQueryProgress
  /** The error of a query that terminated with one. */
  readonly exception?: string
}

/**
 * Options of `forwardProgress`.
 * @example await forwardProgress(session, jsonFilesSink('/var/log/srx-progress'), { intervalMs: 5000, id: 'progress-to-files' })
 */
export interface ForwardProgressOptions {
  /** Events are written in one sink batch at most this often (default 1000 ms). */
  readonly intervalMs?: number
  /** Events kept while the sink fails; beyond it the oldest are dropped and reported (default 100,000). */
  readonly maxBuffered?: number
  /** The id the sink sees as its query's (stable across restarts, so sinks that tag commits with it resume; default 'forwardProgress'). */
  readonly id?: string
  /** Where failures go (default console.warn). */
  readonly warn?: (message: string) => void
}

/**
 * A running forwarder.
 * @example
 * const forwarder = await forwardProgress(session, jsonFilesSink('/var/log/srx-progress'))
 * await forwarder.flush()
 * await forwarder.close()
 */
export interface ProgressForwarder {
  /** Writes every event seen so far; rejects with the sink's error if it fails (the events stay queued). */
  flush(): Promise<void>
  /** Stops listening, writes what is left, and stops the sink; rejects like `flush` when the sink fails. */
  close(): Promise<void>
}

/**
 * Writes every life-cycle event of the session's queries (started, progress, idle, terminated) to a sink, so that a
 * second streaming query can read the log and monitor the first (as a StreamingQueryListener forwarding progress
 * would). Events are grouped into sink batches; each batch gets an id once (the time it was formed, in epoch ms,
 * strictly increasing, so ids do not repeat across restarts either) and is retried with that id until the sink takes
 * it, so an idempotent sink such as `jsonFilesSink` holds every event exactly once.
 * @example const fwd = await forwardProgress(session, jsonFilesSink('/var/log/srx-progress')); …; await fwd.close()
 * @throws what the sink's `open` throws (e.g. InvalidQueryError for a sink without append mode).
 */
export async function forwardProgress(session: Session, sink: Sink<ForwardedEvent>, options: ForwardProgressOptions = {}): Promise<ProgressForwarder> {
  const warn = options.warn ?? ((m: string) => console.warn(m))
  const id = options.id ?? 'forwardProgress'
  // Batch ids are formation times, strictly increasing across restarts, so the sink needs no checkpoint to skip replays.
  const writer = await sink.open({ queryId: id, queryName: id, outputMode: 'append', fs: session.options.fs ?? nodeFs, uniqueBatchIds: true })
  const log = new EventLog(writer, options.maxBuffered ?? 100_000, warn)
  const subscription: Subscription = observeEvents(session, (e) => log.add(forwarded(e)), warn)
  const timer = setInterval(() => void log.flush(false), options.intervalMs ?? 1000)
  timer.unref()
  return {
    flush: () => log.flush(true),
    async close() {
      subscription.unsubscribe()
      clearInterval(timer)
      try {
        await log.flush(true)
      } finally {
        await writer.stop?.()
      }
    },
  }
}

function forwarded(e: StreamingQueryEvent): ForwardedEvent {
  switch (e.type) {
    case 'progress': {
      const p = e.progress
      return { type: 'progress', id: p.id, runId: p.runId, name: p.name, timestamp: p.timestamp, progress: p }
    }
    case 'started':
      return { type: 'started', id: e.id, runId: e.runId, name: e.name ?? null, timestamp: e.timestamp }
    case 'idle':
      return { type: 'idle', id: e.id, runId: e.runId, name: null, timestamp: e.timestamp }
    case 'terminated':
      return {
        type: 'terminated',
        id: e.id,
        runId: e.runId,
        name: null,
        timestamp: new Date().toISOString(),
        ...(e.exception !== undefined ? { exception: e.exception } : {}),
      }
  }
}

/** Buffered events and the batch being written; one write at a time, a failed batch retried unchanged. */
class EventLog {
  private buffered: ForwardedEvent[] = []
  private pending: { batchId: number; rows: ForwardedEvent[] } | undefined
  private lastBatchId = 0
  private writing: Promise<void> | undefined
  private retryAfter = 0

  constructor(
    private readonly writer: SinkWriter<ForwardedEvent>,
    private readonly maxBuffered: number,
    private readonly warn: (message: string) => void,
  ) {}

  add(event: ForwardedEvent): void {
    this.buffered.push(event)
    if (this.buffered.length > this.maxBuffered) {
      const dropped = this.buffered.length - this.maxBuffered
      this.buffered.splice(0, dropped)
      this.warn(`structured-rx forwardProgress: the sink is behind; dropped the ${dropped} oldest event(s)`)
    }
  }

  /**
   * Writes the pending batch, then everything buffered. A periodic flush that fails warns and leaves the batch for
   * a later flush (after a second's pause); a forced one rejects with the sink's error.
   */
  async flush(force: boolean): Promise<void> {
    while (this.writing !== undefined) await this.writing.catch(() => undefined)
    if (this.pending === undefined && this.buffered.length === 0) return
    this.writing = this.writeAll(force).finally(() => (this.writing = undefined))
    await this.writing
  }

  private async writeAll(force: boolean): Promise<void> {
    for (;;) {
      if (this.pending === undefined) {
        if (this.buffered.length === 0) return
        this.lastBatchId = Math.max(this.lastBatchId + 1, Date.now())
        this.pending = { batchId: this.lastBatchId, rows: this.buffered }
        this.buffered = []
      }
      if (!force && Date.now() < this.retryAfter) return
      const { batchId, rows } = this.pending
      try {
        await this.writer.addBatch(batchId, rows)
        this.pending = undefined
        this.retryAfter = 0
      } catch (e) {
        if (force) throw e
        this.retryAfter = Date.now() + 1000
        this.warn(`structured-rx forwardProgress: writing batch ${batchId} failed, will retry: ${e instanceof Error ? e.message : String(e)}`)
        return
      }
    }
  }
}
