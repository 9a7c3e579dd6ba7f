import { withTimeout } from './util/timeout.js'
import type { StreamingQueryProgress } from './exec/progress.js'

/**
 * A listener of query life-cycle events, called asynchronously and in order; what it throws is logged, not raised.
 * @example
 * session.streams.addListener({
 *   onQueryProgress: ({ progress }) => console.log(progress.batchId, progress.numInputRows),
 *   onQueryTerminated: ({ id, exception }) => { if (exception) console.error(`query ${id} failed: ${exception}`) },
 * })
 */
export interface StreamingQueryListener {
  onQueryStarted?(event: { id: string; runId: string; name: string | undefined; timestamp: string }): void | Promise<void>
  onQueryProgress?(event: { progress: StreamingQueryProgress }): void | Promise<void>
  onQueryIdle?(event: { id: string; runId: string; timestamp: string }): void | Promise<void>
  onQueryTerminated?(event: { id: string; runId: string; exception: string | undefined }): void | Promise<void>
}

/**
 * Query life-cycle events as one stream.
 * @example session.streams.events$.subscribe((e) => { if (e.type === 'terminated' && e.exception) console.error(e.exception) })
 */
export type StreamingQueryEvent =
  | { readonly type: 'started'; readonly id: string; readonly runId: string; readonly name: string | undefined; readonly timestamp: string }
  | { readonly type: 'progress'; readonly progress: StreamingQueryProgress }
  | { readonly type: 'idle'; readonly id: string; readonly runId: string; readonly timestamp: string }
  | { readonly type: 'terminated'; readonly id: string; readonly runId: string; readonly exception: string | undefined }

/** How often, at most, a listener that keeps dropping events is reported again. */
const DROP_REPORT_INTERVAL_MS = 60_000

/**
 * Delivers events to listeners off the query's path (Spark's StreamingQueryListenerBus): each listener has its own
 * queue, worked one event at a time in order, so a slow listener delays only itself. A queue holds at most
 * `capacity` events; an event arriving at a full queue is dropped for that listener, counted, and reported through
 * `warn` (on the first drop, then at most once a minute), so a stuck listener costs bounded memory, never a batch.
 * @example const bus = new ListenerBus(10_000, console.warn); bus.add(listener); bus.post(event)
 */
export class ListenerBus {
  private readonly queues = new Map<StreamingQueryListener, ListenerQueue>()
  /** Events dropped so far, over all listeners. */
  dropped = 0

  constructor(
    private readonly capacity: number,
    private readonly warn: (message: string) => void,
  ) {}

  add(listener: StreamingQueryListener): void {
    if (!this.queues.has(listener)) this.queues.set(listener, new ListenerQueue(listener, this))
  }

  /** Stops delivering to `listener`; events already queued for it are still delivered. */
  remove(listener: StreamingQueryListener): void {
    this.queues.delete(listener)
  }

  /** Queues `event` for every listener. */
  post(event: StreamingQueryEvent): void {
    for (const q of this.queues.values()) q.offer(event, undefined)
  }

  /** Queues `event` for every listener; resolves once each of them has handled it (or dropped it). */
  async postAndWait(event: StreamingQueryEvent): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => new Promise<void>((done) => q.offer(event, done))))
  }

  /** Resolves once every queued event has been delivered, or after `timeoutMs` with a warning naming what is left. */
  async drain(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.queues.values()].map((q) => q.idle())).then(() => true)
    const drained = await withTimeout(all, timeoutMs, false)
    if (!drained) {
      const left = [...this.queues.values()].reduce((n, q) => n + q.size, 0)
      this.warn(`structured-rx: listeners still had ${left} event(s) to handle after ${timeoutMs} ms; stopped waiting for them`)
    }
  }

  /** @internal */
  full(queue: ListenerQueue): void {
    this.dropped++
    queue.dropped++
    const now = Date.now()
    if (now - queue.lastReportMs >= DROP_REPORT_INTERVAL_MS) {
      queue.lastReportMs = now
      this.warn(
        `structured-rx: a StreamingQueryListener is ${this.capacity} events behind; dropped ${queue.dropped} event(s) ` +
          'so far (make the listener faster, or hand its work to a queue of its own)',
      )
    }
  }

  /** @internal */
  threw(event: StreamingQueryEvent, e: unknown): void {
    this.warn(`structured-rx: a StreamingQueryListener threw on ${event.type} (ignored): ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
  }

  /** @internal */
  get limit(): number {
    return this.capacity
  }
}

class ListenerQueue {
  private readonly queue: { event: StreamingQueryEvent; done: (() => void) | undefined }[] = []
  private running: Promise<void> | undefined
  dropped = 0
  lastReportMs = -Infinity

  constructor(
    private readonly listener: StreamingQueryListener,
    private readonly bus: ListenerBus,
  ) {}

  /** Queues `event`; `done` is called once it was handled, or at once when it is dropped or not listened to. */
  offer(event: StreamingQueryEvent, done: (() => void) | undefined): void {
    // An event the listener has no method for takes no room in its queue.
    if (!handles(this.listener, event)) return done?.()
    if (this.queue.length >= this.bus.limit) {
      this.bus.full(this)
      return done?.()
    }
    this.queue.push({ event, done })
    this.running ??= this.run()
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve()
  }

  /** Events queued, the one being handled included. */
  get size(): number {
    return this.queue.length + (this.running !== undefined ? 1 : 0)
  }

  private async run(): Promise<void> {
    // Start on a later tick: the poster (a query's batch loop) never runs listener code.
    await Promise.resolve()
    while (this.queue.length > 0) {
      const { event, done } = this.queue.shift()!
      try {
        await deliver(this.listener, event)
      } catch (e) {
        this.bus.threw(event, e)
      }
      done?.()
    }
    this.running = undefined
  }
}

function handles(l: StreamingQueryListener, event: StreamingQueryEvent): boolean {
  switch (event.type) {
    case 'started':
      return l.onQueryStarted !== undefined
    case 'progress':
      return l.onQueryProgress !== undefined
    case 'idle':
      return l.onQueryIdle !== undefined
    case 'terminated':
      return l.onQueryTerminated !== undefined
  }
}

async function deliver(l: StreamingQueryListener, event: StreamingQueryEvent): Promise<void> {
  switch (event.type) {
    case 'started':
      return l.onQueryStarted?.(event)
    case 'progress':
      return l.onQueryProgress?.({ progress: event.progress })
    case 'idle':
      return l.onQueryIdle?.(event)
    case 'terminated':
      return l.onQueryTerminated?.(event)
  }
}
