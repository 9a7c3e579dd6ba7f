import { withTimeout } from './util/timeout.js'
import { Subject, type Observable } from 'rxjs'
import { type CheckpointFs, nodeFs } from './durable/fs.js'
import { InvalidQueryError } from './errors.js'
import { parseDuration } from './util/duration.js'
import { positiveInteger } from './util/options.js'
import { startQuery } from './exec/startQuery.js'
import type { StreamingQuery } from './exec/streamingQuery.js'
import type { PlanNode } from './plan/nodes.js'
import type { MemorySink } from './sinks/memorySink.js'
import type { Source } from './sources/source.js'
import { ListenerBus, type StreamingQueryEvent, type StreamingQueryListener } from './listenerBus.js'
import { Stream, type WriteStreamOptions } from './stream.js'
import type { SessionContext } from './exec/queryRun.js'
import { startScaledOut } from './exec/scaleOut.js'
import { splitAtRepartition, startRepartitioned } from './exec/repartition.js'
import type { QueryModuleRef } from './exec/workerProtocol.js'
import { isPartitioned, type PartitionedSource } from './sources/partitioned.js'

export type { StreamingQueryEvent, StreamingQueryListener } from './listenerBus.js'

/**
 * Session settings (Spark's `spark.sql.shuffle.partitions` and friends).
 * @example const session = createSession({ shufflePartitions: 4, snapshotInterval: 20, noDataProgressEventInterval: '30 seconds' })
 */
export interface SessionOptions {
  /** Number of state partitions of new checkpoints (default 8); an existing checkpoint keeps its own. */
  readonly shufflePartitions?: number
  /** Progress updates kept in `recentProgress` (default 100). */
  readonly numRecentProgressUpdates?: number
  /** State snapshot every this many batches (default 10). */
  readonly snapshotInterval?: number
  /** Batches of checkpoint history kept (default 100). */
  readonly minBatchesToRetain?: number
  /**
   * How a changed object state of `mapGroupsWithState` and `aggregate` goes into a delta: `'patches'` (default) as
   * immer patches against its previous value when they are smaller, `'whole'` always as the whole value (larger deltas,
   * no patch to apply on restore; the files are checkpoint format v2 either way).
   */
  readonly stateDeltas?: 'patches' | 'whole'
  /** The file system checkpoint I/O goes through (default: Node's fs with fsync and atomic rename). */
  readonly fs?: CheckpointFs
  /**
   * An idle query records a progress with no rows and posts onQueryIdle at most this often (default '10 seconds', as
   * Spark's `spark.sql.streaming.noDataProgressEventInterval`).
   */
  readonly noDataProgressEventInterval?: number | string
  /** Events a listener may have waiting before further ones are dropped for it (default 10,000). */
  readonly listenerQueueCapacity?: number
  /** Where warnings go, those of listeners included (default console.warn). */
  readonly warn?: (message: string) => void
}

/**
 * The queries of a session (Spark's StreamingQueryManager): the active ones, their listeners and their life-cycle
 * events, and waiting for any of them to terminate.
 * @example session.streams.addListener({ onQueryProgress: ({ progress }) => console.log(progress.json()) })
 */
export class StreamingQueryManager {
  private readonly queries = new Map<string, StreamingQuery>()
  private readonly starting = new Set<string>()
  private readonly bus: ListenerBus
  private readonly events = new Subject<StreamingQueryEvent>()
  private lastTerminated: StreamingQuery | undefined
  private terminatedWaiters: ((q: StreamingQuery) => void)[] = []
  /** Every life-cycle event of every query of the session, synchronously as it happens (keep subscribers cheap). */
  readonly events$: Observable<StreamingQueryEvent> = this.events.asObservable()

  /** @internal */
  constructor(listenerQueueCapacity: number, warn: (message: string) => void) {
    this.bus = new ListenerBus(listenerQueueCapacity, warn)
  }

  /** Queries that are running. */
  get active(): StreamingQuery[] {
    return [...this.queries.values()].filter((q) => q.isActive)
  }

  /** A running query by id. */
  get(id: string): StreamingQuery | undefined {
    return this.queries.get(id)
  }

  /** Listener deliveries dropped so far because a listener fell too far behind. */
  get droppedEvents(): number {
    return this.bus.dropped
  }

  /**
   * Adds a listener: it gets every later event of every query of the session, in order, on its own queue.
   * @example session.streams.addListener({ onQueryProgress: ({ progress }) => console.log(progress.batchId) })
   */
  addListener(listener: StreamingQueryListener): void {
    this.bus.add(listener)
  }

  /** Removes a listener; events already queued for it are still delivered. */
  removeListener(listener: StreamingQueryListener): void {
    this.bus.remove(listener)
  }

  /**
   * Waits until any query of the session terminates: resolves true, or false after `timeoutMs`. Once a query has
   * terminated it returns (or throws) at once on every call until `resetTerminated()`; a failed query is preferred.
   * @example await session.streams.awaitAnyTermination()
   * @throws StreamingQueryError of the query that failed.
   */
  awaitAnyTermination(timeoutMs?: number): Promise<boolean> {
    if (this.lastTerminated !== undefined) return outcome(this.lastTerminated)
    const terminated = new Promise<StreamingQuery>((resolve) => this.terminatedWaiters.push(resolve)).then(outcome)
    return withTimeout(terminated, timeoutMs, false)
  }

  /** Forgets terminated queries, so `awaitAnyTermination()` waits for a new termination. */
  resetTerminated(): void {
    this.lastTerminated = undefined
  }

  /** @internal Refuses a name that an active or starting query has; the caller releases it with `release`. */
  reserveName(name: string | undefined): void {
    if (name === undefined) return
    if (this.starting.has(name) || this.active.some((q) => q.name === name)) {
      throw new InvalidQueryError(`cannot start query with name '${name}': a query with that name is already active in this session; stop it first or choose another queryName`)
    }
    this.starting.add(name)
  }

  /** @internal */
  releaseName(name: string | undefined): void {
    if (name !== undefined) this.starting.delete(name)
  }

  /** @internal */
  register(q: StreamingQuery): void {
    this.queries.set(q.id, q)
  }

  /** @internal Publishes an event on `events$` at once and queues it for every listener (the query never waits). */
  emit(event: StreamingQueryEvent): void {
    this.events.next(event)
    this.bus.post(event)
  }

  /** @internal `emit`, resolving once every listener has handled the event. */
  emitAndWait(event: StreamingQueryEvent): Promise<void> {
    this.events.next(event)
    return this.bus.postAndWait(event)
  }

  /** @internal */
  terminated(q: StreamingQuery): void {
    if (this.queries.get(q.id) === q) this.queries.delete(q.id)
    if (this.lastTerminated === undefined || q.exception !== undefined) this.lastTerminated = q
    const waiters = this.terminatedWaiters
    this.terminatedWaiters = []
    for (const w of waiters) w(q)
  }

  /** @internal Stops every active query, then waits (at most `drainTimeoutMs`) until listeners received every event. */
  async stopAll(drainTimeoutMs: number): Promise<void> {
    await Promise.allSettled(this.active.map((q) => q.stop()))
    await this.bus.drain(drainTimeoutMs)
  }
}

function outcome(q: StreamingQuery): Promise<boolean> {
  return q.exception ? Promise.reject(q.exception) : Promise.resolve(true)
}

/**
 * A structured-rx session: reads streams and runs their queries (Spark's SparkSession).
 * @example const session = createSession({ shufflePartitions: 8 }); const query = await session.readStream(src).pipe(count()).writeStream(opts).start()
 */
export class Session {
  readonly streams: StreamingQueryManager
  readonly options: Required<Omit<SessionOptions, 'fs' | 'warn' | 'noDataProgressEventInterval'>> &
    Pick<SessionOptions, 'fs' | 'warn'> & { readonly noDataProgressEventInterval: number }
  private readonly tables = new Map<string, MemorySink<unknown>>()

  constructor(options: SessionOptions = {}) {
    const partitions = positiveInteger('shufflePartitions', options.shufflePartitions, 8)
    this.options = {
      shufflePartitions: partitions,
      numRecentProgressUpdates: positiveInteger('numRecentProgressUpdates', options.numRecentProgressUpdates, 100),
      snapshotInterval: positiveInteger('snapshotInterval', options.snapshotInterval, 10),
      minBatchesToRetain: positiveInteger('minBatchesToRetain', options.minBatchesToRetain, 100),
      stateDeltas: stateDeltasOf(options.stateDeltas),
      listenerQueueCapacity: positiveInteger('listenerQueueCapacity', options.listenerQueueCapacity, 10_000),
      noDataProgressEventInterval: parseDuration(options.noDataProgressEventInterval ?? 10_000, 'createSession: noDataProgressEventInterval'),
      fs: options.fs,
      warn: options.warn,
    }
    this.streams = new StreamingQueryManager(this.options.listenerQueueCapacity, (m) => this.warn(m))
  }

  /** @internal Set by `defineQuery` (the module and export workers import) and, in a worker, the tasks it runs. */
  scaling: { readonly definedIn?: QueryModuleRef; readonly tasks?: readonly number[] } = {}

  /** Starts a streaming query definition from a source; a partitioned source makes the query run as tasks. */
  readStream<T>(source: Source<T> | PartitionedSource<T>): Stream<T> {
    return new Stream<T>(this, source as Source<unknown> | PartitionedSource<unknown>, [])
  }

  /**
   * The result table of the memory sink of the query named `name`.
   * @throws Error when no query of that name writes to a memory sink in this session.
   */
  table<R = unknown>(name: string): R[] {
    const sink = this.tables.get(name)
    if (sink === undefined) {
      throw new Error(`no table '${name}': start a query with queryName '${name}' and a memorySink() first`)
    }
    return sink.rows() as R[]
  }

  /** @internal Called by `writeStream(...).start()`. */
  async startQuery(
    source: Source<unknown> | PartitionedSource<unknown>,
    nodes: readonly PlanNode[],
    options: WriteStreamOptions<unknown>,
  ): Promise<StreamingQuery> {
    const manager = this.streams
    const name = options.queryName
    manager.reserveName(name)
    let started: Promise<void> = Promise.resolve()
    // Registered and announced before its first trigger, so 'started' precedes every other event of the run.
    const announce = (q: StreamingQuery): void => {
      manager.register(q)
      if (name !== undefined && 'rows' in options.sink) this.tables.set(name, options.sink as MemorySink<unknown>)
      started = manager.emitAndWait({ type: 'started', id: q.id, runId: q.runId, name: q.name, timestamp: new Date().toISOString() })
    }
    try {
      let query: StreamingQuery
      const split = splitAtRepartition(nodes)
      if (split !== undefined || isPartitioned(source)) {
        // Tasks, and the two parts of a repartitioned query, form one query: the session sees it once they started.
        const context = this.context(() => undefined)
        query = split !== undefined
          ? await startRepartitioned(context, { source, nodes, ...options }, split, this.scaling, this.options)
          : await startScaledOut(context, { source: source as PartitionedSource<unknown>, nodes, ...options }, this.scaling, this.options)
        announce(query)
      } else query = await startQuery(this.context(announce), { source, nodes, ...options })
      // As in Spark, start() returns after listeners have handled onQueryStarted.
      await started
      return query
    } finally {
      manager.releaseName(name)
    }
  }

  private context(onStarted: (q: StreamingQuery) => void): SessionContext {
    const manager = this.streams
    return {
      fs: this.options.fs ?? nodeFs,
      shufflePartitions: this.options.shufflePartitions,
      patchDeltas: this.options.stateDeltas === 'patches',
      retention: { snapshotInterval: this.options.snapshotInterval, minBatchesToRetain: this.options.minBatchesToRetain },
      numRecentProgressUpdates: this.options.numRecentProgressUpdates,
      noDataProgressEventIntervalMs: this.options.noDataProgressEventInterval,
      warn: this.warn,
      onStarted,
      onProgress: (_q, progress) => manager.emit({ type: 'progress', progress }),
      onIdle: (q) => manager.emit({ type: 'idle', id: q.id, runId: q.runId, timestamp: new Date().toISOString() }),
      onTerminated: (q) => {
        manager.emit({ type: 'terminated', id: q.id, runId: q.runId, exception: q.exception?.message })
        manager.terminated(q)
      },
    }
  }

  /**
   * Stops every active query of the session, then waits until listeners have received every event, so a process
   * may exit right after without losing any. A listener stuck for longer than `drainTimeoutMs` (default 10 s) is
   * given up with a warning.
   * @example await session.stop()
   */
  async stop(options: { readonly drainTimeoutMs?: number } = {}): Promise<void> {
    await this.streams.stopAll(options.drainTimeoutMs ?? 10_000)
  }

  private get warn(): (message: string) => void {
    return this.options.warn ?? ((m) => console.warn(m))
  }
}

/**
 * Creates a session.
 * @example const session = createSession({ shufflePartitions: 8 })
 * @throws RangeError when shufflePartitions, snapshotInterval, minBatchesToRetain, numRecentProgressUpdates or
 * listenerQueueCapacity is not a positive integer.
 */
export function createSession(options: SessionOptions = {}): Session {
  return new Session(options)
}

function stateDeltasOf(value: SessionOptions['stateDeltas']): 'patches' | 'whole' {
  if (value === undefined || value === 'patches' || value === 'whole') return value ?? 'patches'
  throw new RangeError(`stateDeltas must be 'patches' or 'whole', got ${JSON.stringify(value)}`)
}
