import { Subject, type Observable } from 'rxjs'
import { type CheckpointFs, nodeFs } from './durable/fs.js'
import type { StreamingQueryProgress } from './exec/progress.js'
import type { SessionContext } from './exec/queryRun.js'
import { startQuery } from './exec/startQuery.js'
import { startTasks } from './exec/tasks.js'
import { startOnWorkers } from './exec/workers.js'
import { DEFINED_QUERY, type DefinedQueryHandle, type QueryModuleRef } from './exec/workerProtocol.js'
import { InvalidQueryError, QueryModuleError } from './errors.js'
import { isPartitioned, type PartitionedSource } from './sources/partitioned.js'
import type { StreamingQuery } from './exec/streamingQuery.js'
import type { PlanNode } from './plan/nodes.js'
import type { MemorySink } from './sinks/memorySink.js'
import type { Source } from './sources/source.js'
import { type DataStreamWriter, Stream, type WriteStreamOptions } from './stream.js'

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

/** A structured-rx session: reads streams and runs their queries (Spark's SparkSession). */
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

  /**
   * @internal Set by `defineQuery` (the module and export workers import) and, in a worker, the tasks it runs.
   */
  scaling: { readonly definedIn?: QueryModuleRef; readonly tasks?: readonly number[] } = {}

  /** @internal Called by `writeStream(...).start()`. */
  async startQuery(
    source: Source<unknown> | PartitionedSource<unknown>,
    nodes: readonly PlanNode[],
    options: WriteStreamOptions<unknown>,
  ): Promise<StreamingQuery> {
    const parallelism = options.parallelism ?? 1
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new RangeError(`writeStream: parallelism must be a positive integer, got ${parallelism}`)
    }
    if (parallelism > 1 && !isPartitioned(source)) {
      throw new InvalidQueryError(
        `writeStream: parallelism ${parallelism} needs a partitioned source (its partitions are the tasks the workers ` +
          `run); ${source.description} is not partitioned`,
      )
    }
    const context = this.context()
    let query: StreamingQuery
    if (!isPartitioned(source)) query = await startQuery(context, { source, nodes, ...options })
    else if (parallelism > 1 && this.scaling.tasks === undefined) {
      const definedIn = this.scaling.definedIn
      if (definedIn === undefined) {
        throw new QueryModuleError(
          `writeStream: parallelism ${parallelism} runs the query on worker threads, which import it from its module: ` +
            `define it with defineQuery(import.meta.url, '<export name>', (session) => …) and start it with .start()`,
        )
      }
      if (this.options.fs !== undefined) {
        throw new InvalidQueryError('writeStream: parallelism above 1 uses the default file system in every worker; a custom session fs cannot cross threads')
      }
      const { shufflePartitions, numRecentProgressUpdates, snapshotInterval, minBatchesToRetain } = this.options
      const settings = { shufflePartitions, numRecentProgressUpdates, snapshotInterval, minBatchesToRetain }
      query = await startOnWorkers(context, definedIn, source.partitioning.partitions, parallelism, settings)
    } else query = await startTasks(context, { source, nodes, ...options }, this.scaling.tasks)
    this.register(query, options)
    return query
  }

  private context(): SessionContext {
    const manager = this.streams
    return {
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
      }
  }

  private register(query: StreamingQuery, options: WriteStreamOptions<unknown>): void {
    const manager = this.streams
    if (options.queryName !== undefined && 'rows' in options.sink) {
      this.tables.set(options.queryName, options.sink as MemorySink<unknown>)
    }
    manager.register(query)
    manager.emit({ type: 'started', id: query.id, runId: query.runId, name: query.name, timestamp: new Date().toISOString() })
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

/** A query defined in a module, so that worker threads can import it: what `defineQuery` returns. */
export interface DefinedQuery<P> extends DefinedQueryHandle {
  /**
   * Starts the query in a new session with `params` (plain data: every worker gets a copy); with `parallelism: n`
   * in its `writeStream`, on n worker threads.
   * @throws QueryModuleError when the module does not export this query under the name given to `defineQuery`.
   */
  start(params: P, options?: SessionOptions): Promise<StreamingQuery>
}

/**
 * Defines a query in a module that exports it, so worker threads can import and run its tasks: `module` is the
 * module's `import.meta.url`, `exportName` the name it is exported under, and `build` writes the query from a session
 * and the parameters given to `start` (the same on every worker).
 * @example
 * export const counts = defineQuery(import.meta.url, 'counts', (session, p: { out: string }) =>
 *   session.readStream(events).pipe(groupBy((e) => e.user, t.string), count())
 *     .writeStream({ outputMode: 'update', sink: jsonFilesSink(p.out), checkpointLocation: 'ckpt', parallelism: 2 }))
 * await counts.start({ out: '/data/out' })
 * @throws nothing itself; `start()` throws QueryModuleError when the export is missing or is another value.
 */
export function defineQuery<P = undefined>(
  module: string,
  exportName: string,
  build: (session: Session, params: P) => DataStreamWriter,
): DefinedQuery<P> {
  const defined: DefinedQuery<P> = {
    [DEFINED_QUERY]: true,
    async start(params, options = {}) {
      const exported = ((await import(module)) as Record<string, unknown>)[exportName]
      if (exported !== defined) {
        throw new QueryModuleError(
          `defineQuery: ${module} must export this query as '${exportName}' (export const ${exportName} = defineQuery(…)); ` +
            `found ${exported === undefined ? 'no such export' : 'another value'}`,
        )
      }
      const session = new Session(options)
      session.scaling = { definedIn: { module, exportName, params } }
      return build(session, params).start()
    },
    async startTasks(tasks, options, params) {
      const session = new Session(options)
      session.scaling = { definedIn: { module, exportName, params }, tasks }
      return build(session, params as P).start()
    },
  }
  return defined
}
