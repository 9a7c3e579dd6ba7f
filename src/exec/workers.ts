import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'
import { Subject } from 'rxjs'
import { PartitioningMismatchError, QueryModuleError, StreamingQueryError } from '../errors.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import type { SessionContext } from './queryRun.js'
import { aggregateOf, type ScaleOutStatus, taskStatus } from './scaleOutView.js'
import type { StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'
import { WORKER_RESOURCE_LIMITS, type WorkerResourceLimits } from './workerLimits.js'
import type { ErrorText, FromWorker, QueryModuleRef, ToWorker, WorkerData, WorkerSessionOptions } from './workerProtocol.js'

/**
 * Starts a query over a partitioned source on `parallelism` worker threads: worker w runs the tasks p with
 * p mod parallelism = w, each importing the query from its module, each with the V8 heap limits `resourceLimits`.
 * Resolves once every worker started its tasks.
 * @example const query = await startOnWorkers(context, { module: import.meta.url, exportName: 'query', params: {} }, 8, 2, options)
 * @throws QueryModuleError when a worker cannot import the query; any start-up error of a task (re-raised with its
 * code), after every worker has been stopped.
 */
export async function startOnWorkers(
  session: SessionContext,
  definedIn: QueryModuleRef,
  partitions: number,
  parallelism: number,
  options: WorkerSessionOptions,
  resourceLimits: WorkerResourceLimits = WORKER_RESOURCE_LIMITS,
  spawn: SpawnWorker = (entry, workerOptions) => new Worker(entry, workerOptions),
): Promise<StreamingQuery> {
  const query = new WorkersQuery(session, definedIn, partitions, Math.min(parallelism, partitions), options, resourceLimits, spawn)
  await query.started
  return query
}

/** What the main thread uses of a worker thread: its events, its messages, and terminating it. */
export type WorkerHandle = Pick<Worker, 'on' | 'postMessage' | 'terminate'>

/** Starts one worker thread; tests pass one that starts a stand-in whose messages and exits they send themselves. */
export type SpawnWorker = (entry: URL, options: WorkerOptions) => WorkerHandle

/**
 * How to start a worker: the built entry file, or, when the engine runs from its TypeScript source (tests, tsx), a
 * small module that registers tsx's loader in the worker before importing the source entry.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./workerMain.js', import.meta.url)
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href
  const main = new URL('./workerMain.ts', import.meta.url).href
  const bootstrap = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(main)});`
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`)
}

/** The handle of a query whose tasks run on worker threads: control goes to the workers as messages. */
class WorkersQuery implements StreamingQuery {
  readonly runId = randomUUID()
  readonly name: string | undefined = undefined
  /** Each worker's tasks run the query's own trigger; the main thread only relays control. */
  readonly trigger: Trigger = { kind: 'processingTime', intervalMs: 0 }
  readonly progress$ = new Subject<StreamingQueryProgress>()
  readonly recentProgress: StreamingQueryProgress[] = []
  readonly started: Promise<void>
  id = ''
  exception: StreamingQueryError | undefined
  private readonly workers: WorkerHandle[]
  /** The worker each task runs on, by task. */
  private readonly ownerOf: readonly number[]
  /** The last progress of each task. */
  private readonly lastOf = new Map<number, StreamingQueryProgress>()
  private readonly running = new Set<WorkerHandle>()
  private readonly drains = new Map<number, { left: number; resolve: () => void; reject: (e: Error) => void }>()
  private seq = 0
  private readonly ended: Promise<void>

  constructor(
    private readonly session: SessionContext,
    definedIn: QueryModuleRef,
    partitions: number,
    parallelism: number,
    options: WorkerSessionOptions,
    resourceLimits: WorkerResourceLimits,
    spawn: SpawnWorker,
  ) {
    const entry = workerEntry()
    this.ownerOf = Array.from({ length: partitions }, (_, p) => p % parallelism)
    this.workers = Array.from({ length: parallelism }, (_, w) => {
      const tasks = this.ownerOf.flatMap((owner, p) => (owner === w ? [p] : []))
      const data: WorkerData = { definedIn, tasks, session: options }
      return spawn(entry, { workerData: data, resourceLimits: { ...resourceLimits } })
    })
    const starts = this.workers.map((worker) => this.watch(worker))
    this.started = Promise.all(starts.map((s) => s.started)).then(
      () => undefined,
      async (e: unknown) => {
        await Promise.all(this.workers.map((w) => w.terminate()))
        throw e
      },
    )
    this.ended = Promise.all(starts.map((s) => s.ended)).then(() => {
      this.progress$.complete()
      session.onTerminated(this)
    })
  }

  private watch(worker: WorkerHandle): { started: Promise<void>; ended: Promise<void> } {
    let onStarted!: () => void
    let onFailed!: (e: Error) => void
    const started = new Promise<void>((resolve, reject) => ((onStarted = resolve), (onFailed = reject)))
    const ended = new Promise<void>((resolve) => {
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'started':
            this.id ||= message.id
            this.running.add(worker)
            onStarted()
            break
          case 'failedToStart':
            onFailed(rebuild(message.error))
            break
          case 'progress':
            this.recordProgress(message.task, message.progress)
            break
          case 'drained':
            this.drained(message.seq, message.error)
            break
          case 'terminated':
            if (message.error !== undefined) this.fail(rebuild(message.error))
            break
        }
      })
      worker.on('error', (e) => {
        onFailed(e)
        this.fail(e)
      })
      worker.on('exit', () => {
        this.running.delete(worker)
        onFailed(new Error('a worker thread exited before it started its tasks'))
        for (const seq of this.drains.keys()) this.drained(seq, { name: 'Error', code: undefined, message: 'a worker thread exited' })
        resolve()
      })
    })
    return { started, ended }
  }

  private recordProgress(task: number, progress: StreamingQueryProgress): void {
    this.lastOf.set(task, progress)
    this.recentProgress.push(progress)
    if (this.recentProgress.length > this.session.numRecentProgressUpdates) this.recentProgress.shift()
    this.progress$.next(progress)
    this.session.onProgress(this, progress)
  }

  private drained(seq: number, error: ErrorText | undefined): void {
    const waiter = this.drains.get(seq)
    if (waiter === undefined) return
    if (error !== undefined) {
      this.drains.delete(seq)
      waiter.reject(rebuild(error))
    } else if (--waiter.left === 0) {
      this.drains.delete(seq)
      waiter.resolve()
    }
  }

  private fail(e: Error): void {
    if (this.exception !== undefined) return
    this.exception = e instanceof StreamingQueryError ? e : new StreamingQueryError(`a worker failed: ${e.message}`, e, undefined, undefined)
    void this.stop()
  }

  /**
   * The main thread sees neither the workers' data nor their triggers (a worker reports batches, not when a trigger
   * starts), so it claims neither: a running worker is no trigger in progress, and an idle query must not look busy.
   */
  get status(): StreamingQueryStatus {
    return { message: `${this.running.size} of ${this.workers.length} workers running`, isDataAvailable: false, isTriggerActive: false }
  }

  get lastProgress(): StreamingQueryProgress | undefined {
    return this.recentProgress.at(-1)
  }

  /** Every task with the worker thread that runs it (`worker-<w>`) and its last progress, and their sum. */
  get scaleOut(): ScaleOutStatus {
    return {
      tasks: this.ownerOf.length,
      taskStatus: this.ownerOf.map((w, p) => taskStatus(p, `worker-${w}`, undefined, this.lastOf.get(p))),
      aggregate: aggregateOf(this.lastOf),
    }
  }

  get isActive(): boolean {
    return this.running.size > 0
  }

  async stop(): Promise<void> {
    for (const w of this.running) w.postMessage({ type: 'stop' } satisfies ToWorker)
    await this.ended
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    const done = this.ended.then(() => {
      if (this.exception !== undefined) throw this.exception
      return true
    })
    if (timeoutMs === undefined) return done
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))
    try {
      return await Promise.race([done, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  processAllAvailable(): Promise<void> {
    if (this.exception !== undefined) return Promise.reject(this.exception)
    const seq = ++this.seq
    const workers = [...this.running]
    if (workers.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.drains.set(seq, { left: workers.length, resolve, reject })
      for (const w of workers) w.postMessage({ type: 'processAllAvailable', seq } satisfies ToWorker)
    })
  }

  explain(print = true): string {
    const text = `Runs its tasks on ${this.workers.length} worker threads (task p on worker p mod ${this.workers.length})`
    if (print) console.log(text)
    return text
  }
}

/** An error from a worker, as the class it was there when the engine knows it. */
function rebuild(e: ErrorText): Error {
  switch (e.code) {
    case 'SRX_QUERY_MODULE':
      return new QueryModuleError(e.message)
    case 'SRX_PARTITIONING_MISMATCH':
      return new PartitioningMismatchError(e.message)
    default:
      return new StreamingQueryError(`${e.name}: ${e.message}`, e, undefined, undefined)
  }
}
