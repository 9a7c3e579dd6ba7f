import { Subject, type Observable } from 'rxjs'
import { type CheckpointFs, nodeFs } from './durable/fs.js'
import type { StreamingQueryProgress } from './exec/progress.js'
import { startQuery } from './exec/startQuery.js'
import type { StreamingQuery } from './exec/streamingQuery.js'
import type { PlanNode } from './plan/nodes.js'
import type { MemorySink } from './sinks/memorySink.js'
import type { Source } from './sources/source.js'
import { Stream, type WriteStreamOptions } from './stream.js'

/** Session settings (Spark's `spark.sql.shuffle.partitions` and friends). */
export interface SessionOptions {
  /** Number of state partitions of new checkpoints (default 8); an existing checkpoint keeps its own. */
  readonly shufflePartitions?: number
  /** Progress updates kept in `recentProgress` (default 100). */
  readonly numRecentProgressUpdates?: number
  /** State snapshot every this many batches (default 10). */
  readonly snapshotInterval?: number
  /** Batches of checkpoint history kept (default 100). */
  readonly minBatchesToRetain?: number
  /** The file system checkpoint I/O goes through (default: Node's fs with fsync and atomic rename). */
  readonly fs?: CheckpointFs
  /** Where warnings go (default console.warn). */
  readonly warn?: (message: string) => void
}

/** A listener of query life-cycle events, called asynchronously and in order; what it throws is logged, not raised. */
export interface StreamingQueryListener {
  onQueryStarted?(event: { id: string; runId: string; name: string | undefined; timestamp: string }): void | Promise<void>
  onQueryProgress?(event: { progress: StreamingQueryProgress }): void | Promise<void>
  onQueryIdle?(event: { id: string; runId: string; timestamp: string }): void | Promise<void>
  onQueryTerminated?(event: { id: string; runId: string; exception: string | undefined }): void | Promise<void>
}

/** Query life-cycle events as one stream. */
export type StreamingQueryEvent =
  | { readonly type: 'started'; readonly id: string; readonly runId: string; readonly name: string | undefined; readonly timestamp: string }
  | { readonly type: 'progress'; readonly progress: StreamingQueryProgress }
  | { readonly type: 'idle'; readonly id: string; readonly runId: string; readonly timestamp: string }
  | { readonly type: 'terminated'; readonly id: string; readonly runId: string; readonly exception: string | undefined }

/** The queries of a session (Spark's StreamingQueryManager). */
export class StreamingQueryManager {
  private readonly queries = new Map<string, StreamingQuery>()
  private readonly listeners: StreamingQueryListener[] = []
  private readonly events = new Subject<StreamingQueryEvent>()
  private delivery: Promise<void> = Promise.resolve()
  private terminatedWaiters: ((q: StreamingQuery) => void)[] = []
  /** Every life-cycle event of every query of the session. */
  readonly events$: Observable<StreamingQueryEvent> = this.events.asObservable()

  /** Queries that are running. */
  get active(): StreamingQuery[] {
    return [...this.queries.values()].filter((q) => q.isActive)
  }

  /** A running query by id. */
  get(id: string): StreamingQuery | undefined {
    return this.queries.get(id)
  }

  addListener(listener: StreamingQueryListener): void {
    this.listeners.push(listener)
  }

  removeListener(listener: StreamingQueryListener): void {
    const i = this.listeners.indexOf(listener)
    if (i >= 0) this.listeners.splice(i, 1)
  }

  /** Resolves when any query of the session terminates; rejects with its exception if it failed. */
  awaitAnyTermination(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.terminatedWaiters.push((q) => (q.exception ? reject(q.exception) : resolve())),
    )
  }

  /** @internal */
  register(q: StreamingQuery): void {
    this.queries.set(q.id, q)
  }

  /** @internal Delivers an event to the listeners, one at a time, in order, off the query's path. */
  emit(event: StreamingQueryEvent): void {
    this.events.next(event)
    const listeners = this.listeners.slice()
    this.delivery = this.delivery.then(async () => {
      for (const l of listeners) {
        try {
          switch (event.type) {
            case 'started':
              await l.onQueryStarted?.(event)
              break
            case 'progress':
              await l.onQueryProgress?.({ progress: event.progress })
              break
            case 'idle':
              await l.onQueryIdle?.(event)
              break
            case 'terminated':
              await l.onQueryTerminated?.(event)
              break
          }
        } catch (e) {
          console.warn(`structured-rx: a StreamingQueryListener threw on ${event.type} (ignored):`, e)
        }
      }
    })
  }

  /** @internal */
  terminated(q: StreamingQuery): void {
    if (this.queries.get(q.id) === q) this.queries.delete(q.id)
    const waiters = this.terminatedWaiters
    this.terminatedWaiters = []
    for (const w of waiters) w(q)
  }
}

/**
 * A structured-rx session: reads streams and runs their queries (Spark's SparkSession).
 * @example const session = createSession({ shufflePartitions: 8 }); const query = await session.readStream(src).pipe(count()).writeStream(opts).start()
 */
export class Session {
  readonly streams = new StreamingQueryManager()
  readonly options: Required<Omit<SessionOptions, 'fs' | 'warn'>> & Pick<SessionOptions, 'fs' | 'warn'>
  private readonly tables = new Map<string, MemorySink<unknown>>()

  constructor(options: SessionOptions = {}) {
    const partitions = positiveInteger('shufflePartitions', options.shufflePartitions, 8)
    this.options = {
      shufflePartitions: partitions,
      numRecentProgressUpdates: positiveInteger('numRecentProgressUpdates', options.numRecentProgressUpdates, 100),
      snapshotInterval: positiveInteger('snapshotInterval', options.snapshotInterval, 10),
      minBatchesToRetain: positiveInteger('minBatchesToRetain', options.minBatchesToRetain, 100),
      fs: options.fs,
      warn: options.warn,
    }
  }

  /** Starts a streaming query definition from a source. */
  readStream<T>(source: Source<T>): Stream<T> {
    return new Stream<T>(this, source as Source<unknown>, [])
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
  async startQuery(source: Source<unknown>, nodes: readonly PlanNode[], options: WriteStreamOptions<unknown>): Promise<StreamingQuery> {
    const manager = this.streams
    const query = await startQuery(
      {
        fs: this.options.fs ?? nodeFs,
        shufflePartitions: this.options.shufflePartitions,
        retention: { snapshotInterval: this.options.snapshotInterval, minBatchesToRetain: this.options.minBatchesToRetain },
        numRecentProgressUpdates: this.options.numRecentProgressUpdates,
        warn: this.options.warn ?? ((m) => console.warn(m)),
        onProgress: (_q, progress) => manager.emit({ type: 'progress', progress }),
        onIdle: (q) => manager.emit({ type: 'idle', id: q.id, runId: q.runId, timestamp: new Date().toISOString() }),
        onTerminated: (q) => {
          manager.emit({ type: 'terminated', id: q.id, runId: q.runId, exception: q.exception?.message })
          manager.terminated(q)
        },
      },
      { source, nodes, ...options },
    )
    if (options.queryName !== undefined && 'rows' in options.sink) {
      this.tables.set(options.queryName, options.sink as MemorySink<unknown>)
    }
    manager.register(query)
    manager.emit({ type: 'started', id: query.id, runId: query.runId, name: query.name, timestamp: new Date().toISOString() })
    return query
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`createSession: ${name} must be a positive integer, got ${value}`)
  }
  return value
}

/**
 * Creates a session.
 * @example const session = createSession({ shufflePartitions: 8 })
 * @throws RangeError when shufflePartitions, snapshotInterval, minBatchesToRetain or numRecentProgressUpdates is not
 * a positive integer.
 */
export function createSession(options: SessionOptions = {}): Session {
  return new Session(options)
}
