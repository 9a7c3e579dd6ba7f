import { randomUUID } from 'node:crypto'
import { type Observable, Subject } from 'rxjs'
import { StreamingQueryError } from '../errors.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import type { SessionContext } from './queryRun.js'
import { type ScaleOutStatus, scaleOutOf } from './scaleOutView.js'
import type { StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'
import { settledWithin } from './withTimeout.js'

type StartPart = (context: SessionContext) => Promise<StreamingQuery>

/**
 * The handle of a query split by `repartition`: part one (source → partitions of `via`) and part two (the tasks over
 * `via`), seen as one query. It is active while either part is; the first part that fails stops the other and its
 * error becomes the query's. `processAllAvailable` waits until part one has written everything its source has now and
 * part two has read and processed all of it; `stop` stops both. Progress is per part: `<name>[repartition]` and
 * `<name>[task p]`.
 */
export class RepartitionedQuery implements StreamingQuery {
  readonly runId = randomUUID()
  private readonly progress = new Subject<StreamingQueryProgress>()
  readonly progress$: Observable<StreamingQueryProgress> = this.progress.asObservable()
  private one: StreamingQuery | undefined
  private two: StreamingQuery | undefined
  /** Part two's start, while it waits for part one to finish (trigger once or availableNow). */
  private deferred: StartPart | undefined
  /** Settles once part two has started, or is known never to start. */
  private twoReady: Promise<void> = Promise.resolve()
  private markTwoReady: () => void = () => undefined
  private oneEnded = false
  private twoEnded = false
  private twoWillStart = true
  private failure: StreamingQueryError | undefined
  private stopping = false
  private announced = false
  private finished = false
  private markEnded!: () => void
  private readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve))

  constructor(
    readonly name: string | undefined,
    private readonly givenTrigger: Trigger | undefined,
    /** The partitioned stream between the parts. */
    readonly via: string,
    readonly partitions: number,
    private readonly session: SessionContext,
  ) {}

  /**
   * Starts part one, then part two: at once, or, with trigger once or availableNow, after part one has finished (so
   * the tasks see every row it wrote).
   * @example await query.start((ctx) => startQuery(ctx, partOne), (ctx) => startTasks(ctx, partTwo))
   * @throws the error of either part's start; part one is stopped when part two fails to start.
   */
  async start(startOne: StartPart, startTwo: StartPart): Promise<void> {
    this.twoReady = new Promise<void>((resolve) => (this.markTwoReady = resolve))
    this.one = await startOne(this.partContext('one'))
    this.one.progress$.subscribe((p) => this.progress.next(p))
    if (this.trigger.kind === 'processingTime') {
      try {
        this.two = await startTwo(this.partContext('two'))
      } catch (e) {
        this.twoWillStart = false
        this.markTwoReady()
        await this.one.stop().catch(() => undefined)
        throw e
      }
      this.two.progress$.subscribe((p) => this.progress.next(p))
      this.markTwoReady()
    } else {
      this.deferred = startTwo
    }
    this.announced = true
    this.settle()
  }

  private partContext(part: 'one' | 'two'): SessionContext {
    return { ...this.session, onStarted: () => undefined, onTerminated: (q) => this.partEnded(part, q) }
  }

  private partEnded(part: 'one' | 'two', q: StreamingQuery): void {
    if (part === 'one') this.oneEnded = true
    else this.twoEnded = true
    if (q.exception !== undefined) this.fail(q.exception)
    this.settle()
  }

  /** Starts a deferred part two once part one has ended, and ends the query once both have. */
  private settle(): void {
    if (!this.announced || this.finished || !this.oneEnded) return
    const deferred = this.deferred
    this.deferred = undefined
    if (deferred !== undefined) {
      if (this.failure === undefined && !this.stopping) {
        void this.startLater(deferred)
        return
      }
      this.twoWillStart = false
      this.markTwoReady()
    }
    if (this.twoWillStart && !this.twoEnded) return
    this.finished = true
    this.progress.complete()
    this.markEnded()
    this.session.onTerminated(this)
  }

  private async startLater(startTwo: StartPart): Promise<void> {
    try {
      this.two = await startTwo(this.partContext('two'))
      this.two.progress$.subscribe((p) => this.progress.next(p))
    } catch (e) {
      this.twoWillStart = false
      this.fail(new StreamingQueryError(`the tasks over ${this.via} could not start: ${(e as Error).message}`, e, undefined, undefined))
    } finally {
      this.markTwoReady()
      this.settle()
    }
  }

  private fail(error: StreamingQueryError): void {
    if (this.failure !== undefined) return
    this.failure = error
    void this.stop()
  }

  /** The id of part one: stable across restarts, as it is kept in its checkpoint. */
  get id(): string {
    return this.one!.id
  }

  get trigger(): Trigger {
    return this.givenTrigger ?? { kind: 'processingTime', intervalMs: 0 }
  }

  get status(): StreamingQueryStatus {
    const parts = [this.one, this.two].filter((q): q is StreamingQuery => q !== undefined)
    const two = this.two?.status.message ?? (this.twoWillStart ? 'starts when part one has finished' : 'not started')
    return {
      message: `repartition into ${this.via}: ${this.one?.status.message ?? 'starting'}; tasks: ${two}`,
      isDataAvailable: parts.some((q) => q.isActive && q.status.isDataAvailable),
      isTriggerActive: parts.some((q) => q.isActive && q.status.isTriggerActive),
    }
  }

  get lastProgress(): StreamingQueryProgress | undefined {
    return this.recentProgress.at(-1)
  }

  /** Both parts' recent progress, oldest first. */
  get recentProgress(): readonly StreamingQueryProgress[] {
    return [...(this.one?.recentProgress ?? []), ...(this.two?.recentProgress ?? [])].sort((a, b) => a.timestamp.localeCompare(b.timestamp))
  }

  /** The tasks of part two (none yet while it waits for part one). */
  get scaleOut(): ScaleOutStatus {
    const tasks = this.two === undefined ? undefined : scaleOutOf(this.two)
    return tasks ?? { tasks: this.partitions, taskStatus: [], aggregate: { numInputRows: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0 } }
  }

  get isActive(): boolean {
    return !this.finished
  }

  get exception(): StreamingQueryError | undefined {
    return this.failure
  }

  async stop(timeoutMs?: number): Promise<void> {
    this.stopping = true
    await this.one?.stop(timeoutMs)
    await this.twoReady
    await this.two?.stop(timeoutMs)
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    return settledWithin(
      this.ended.then(() => {
        if (this.failure !== undefined) throw this.failure
      }),
      timeoutMs,
    )
  }

  async processAllAvailable(): Promise<void> {
    await this.one?.processAllAvailable()
    await this.twoReady
    await this.two?.processAllAvailable()
    if (this.failure !== undefined) throw this.failure
  }

  explain(print = true): string {
    const two = this.two === undefined ? '(starts when part one has finished)\n' : this.two.explain(false)
    const text =
      `Runs in two parts through ${this.via}:\nPart one writes every row into its key's partition:\n${this.one?.explain(false) ?? ''}\n` +
      `Part two, as ${this.partitions} tasks over those partitions:\n${two}`
    if (print) console.log(text)
    return text
  }
}
