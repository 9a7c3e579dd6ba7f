/**
 * The main-thread handle of a query on worker threads (workers.ts), run in this process: its workers are fakes, passed
 * in as the function that starts them, whose messages, errors and exits the test sends by hand, so every state change
 * is an explicit event. What runs inside a worker (workerMain) has its own test in test/exec/workerMain.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PartitioningMismatchError, QueryModuleError, StreamingQueryError } from '../../src/errors.js'
import type { StreamingQueryProgress } from '../../src/exec/progress.js'
import type { SessionContext } from '../../src/exec/queryRun.js'
import { scaleOutOf } from '../../src/exec/scaleOutView.js'
import type { StreamingQuery } from '../../src/exec/streamingQuery.js'
import type { FromWorker, WorkerData, WorkerSessionOptions } from '../../src/exec/workerProtocol.js'
import { stalled } from '../../src/monitor/alertRules.js'
import { type SpawnWorker, startOnWorkers, type WorkerHandle } from '../../src/exec/workers.js'
import type { WorkerOptions } from 'node:worker_threads'

type Listener = (value: unknown) => void

/** A worker thread whose messages, errors and exits the test sends by hand; it records what is posted to it. */
class FakeWorker {
  readonly posted: unknown[] = []
  terminated = 0
  private readonly listeners = new Map<string, Listener[]>()
  constructor(
    readonly entry: URL,
    readonly options: WorkerOptions,
  ) {}
  on(type: string, listener: Listener): this {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
    return this
  }
  postMessage(message: unknown): void {
    this.posted.push(message)
  }
  async terminate(): Promise<number> {
    this.terminated++
    return 1
  }
  emit(type: string, value?: unknown): void {
    for (const l of this.listeners.get(type) ?? []) l(value)
  }
}

/** The fake workers started so far, in order. */
let spawned: FakeWorker[] = []
const spawn: SpawnWorker = (entry, options) => {
  const worker = new FakeWorker(entry, options)
  spawned.push(worker)
  return worker as unknown as WorkerHandle
}

const definedIn = { module: 'file:///queries/counts.js', exportName: 'counts', params: { p: 1 } }
const options: WorkerSessionOptions = { shufflePartitions: 4, numRecentProgressUpdates: 2, snapshotInterval: 10, minBatchesToRetain: 5, stateDeltas: 'patches' }
const limits = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, codeRangeSizeMb: 0, stackSizeMb: 4 }

let progressed: [StreamingQuery, StreamingQueryProgress][]
let terminated: StreamingQuery[]
const session = (): SessionContext =>
  ({
    numRecentProgressUpdates: 2,
    onProgress: (q: StreamingQuery, p: StreamingQueryProgress) => progressed.push([q, p]),
    onTerminated: (q: StreamingQuery) => terminated.push(q),
  }) as unknown as SessionContext

beforeEach(() => {
  spawned = []
  progressed = []
  terminated = []
})
afterEach(() => {
  vi.restoreAllMocks()
})

const send = (worker: FakeWorker, message: FromWorker) => worker.emit('message', message)
const exit = (worker: FakeWorker) => worker.emit('exit', 0)

/** Starts a query of `partitions` tasks on `parallelism` fake workers; each worker reports 'started' with `task-<w>`. */
async function started(partitions = 4, parallelism = 2): Promise<{ query: StreamingQuery; workers: FakeWorker[] }> {
  const starting = startOnWorkers(session(), definedIn, partitions, parallelism, options, limits, spawn)
  const workers = [...spawned]
  workers.forEach((w, i) => send(w, { type: 'started', id: `task-${i}` }))
  return { query: await starting, workers }
}

/** Ends every worker (each says it terminated, then exits) and waits until the query saw it. */
async function endAll(query: StreamingQuery, workers: readonly FakeWorker[]): Promise<void> {
  for (const w of workers) {
    send(w, { type: 'terminated' })
    exit(w)
  }
  await query.awaitTermination().catch(() => undefined)
}

/** A settled-or-not probe of a promise, read after the microtasks ran. */
function probe(p: Promise<unknown>): { readonly state: () => string } {
  let state = 'pending'
  p.then(
    () => (state = 'resolved'),
    (e: unknown) => (state = `rejected: ${(e as Error).message}`),
  )
  return { state: () => state }
}
const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const progress = (batchId: number, numInputRows: number, inputRowsPerSecond: number, processedRowsPerSecond: number) =>
  ({ batchId, numInputRows, inputRowsPerSecond, processedRowsPerSecond, timestamp: `t${batchId}` }) as unknown as StreamingQueryProgress

describe('starting a query on worker threads', () => {
  it('gives worker w the tasks p with p mod parallelism = w, the query module, the session settings and a copy of the limits', async () => {
    const { query, workers } = await started(5, 2)
    expect(workers.map((w) => (w.options.workerData as WorkerData).tasks)).toEqual([[0, 2, 4], [1, 3]])
    for (const w of workers) {
      expect(w.options.workerData).toMatchObject({ definedIn, session: options })
      expect(w.options.resourceLimits).toEqual(limits)
      expect(w.options.resourceLimits).not.toBe(limits)
      // Run from the TypeScript source, the entry is a module that registers tsx, then imports workerMain.ts.
      expect(w.entry.protocol).toBe('data:')
      expect(decodeURIComponent(w.entry.href)).toMatch(/register\(\); await import\(".*\/src\/exec\/workerMain\.ts"\);$/)
    }
    await endAll(query, workers)
  })

  it('starts no more workers than there are tasks', async () => {
    const { query, workers } = await started(3, 8)
    expect(workers.map((w) => (w.options.workerData as WorkerData).tasks)).toEqual([[0], [1], [2]])
    expect(query.explain(false)).toBe('Runs its tasks on 3 worker threads (task p on worker p mod 3)')
    await endAll(query, workers)
  })

  it('resolves only once every worker started, and takes the id the first worker reported', async () => {
    const starting = startOnWorkers(session(), definedIn, 4, 2, options, limits, spawn)
    const [w0, w1] = spawned
    const start = probe(starting)
    send(w1!, { type: 'started', id: 'task-1' })
    await flush()
    expect(start.state()).toBe('pending')
    send(w0!, { type: 'started', id: 'task-0' })
    const query = await starting
    expect(query.id).toBe('task-1')
    expect(query.name).toBeUndefined()
    expect(query.trigger).toEqual({ kind: 'processingTime', intervalMs: 0 })
    expect(query.runId).toMatch(/^[0-9a-f-]{36}$/)
    await endAll(query, [w0!, w1!])
  })

  it('rejects with the error a worker failed to start with, rebuilt as its class, after terminating every worker', async () => {
    const starting = startOnWorkers(session(), definedIn, 4, 2, options, limits, spawn)
    const [w0, w1] = spawned
    send(w0!, { type: 'started', id: 'task-0' })
    send(w1!, { type: 'failedToStart', error: { name: 'QueryModuleError', code: 'SRX_QUERY_MODULE', message: 'file:///q.js has no export' } })
    const error = await starting.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QueryModuleError)
    expect((error as Error).message).toBe('file:///q.js has no export')
    expect([w0!.terminated, w1!.terminated]).toEqual([1, 1])
  })

  it('rejects a task\'s partitioning error as PartitioningMismatchError and any other error as StreamingQueryError naming its class', async () => {
    const mismatch = startOnWorkers(session(), definedIn, 2, 2, options, limits, spawn)
    send(spawned[0]!, { type: 'failedToStart', error: { name: 'PartitioningMismatchError', code: 'SRX_PARTITIONING_MISMATCH', message: 'not by key' } })
    await expect(mismatch).rejects.toEqual(new PartitioningMismatchError('not by key'))
    await expect(mismatch).rejects.toBeInstanceOf(PartitioningMismatchError)

    spawned = []
    const other = startOnWorkers(session(), definedIn, 2, 2, options, limits, spawn)
    send(spawned[1]!, { type: 'failedToStart', error: { name: 'TypeError', code: undefined, message: 'x is not a function' } })
    const error = await other.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as Error).message).toBe('TypeError: x is not a function')
  })

  it('rejects when a worker exits, or raises an error, before it started its tasks', async () => {
    const exited = startOnWorkers(session(), definedIn, 2, 2, options, limits, spawn)
    exit(spawned[0]!)
    await expect(exited).rejects.toThrow(new Error('a worker thread exited before it started its tasks'))

    spawned = []
    const crashed = startOnWorkers(session(), definedIn, 2, 2, options, limits, spawn)
    const boom = new Error('out of memory')
    spawned[1]!.emit('error', boom)
    await expect(crashed).rejects.toBe(boom)
    expect(spawned.map((w) => w.terminated)).toEqual([1, 1])
  })
})

describe('a query on worker threads while it runs', () => {
  it('is active while any worker runs, with a status that counts them, and inactive once all exited', async () => {
    const { query, workers } = await started(4, 2)
    expect(query.isActive).toBe(true)
    expect(query.status).toEqual({ message: '2 of 2 workers running', isDataAvailable: false, isTriggerActive: false })
    exit(workers[0]!)
    expect(query.isActive).toBe(true)
    expect(query.status.message).toBe('1 of 2 workers running')
    exit(workers[1]!)
    expect(query.isActive).toBe(false)
    expect(query.status).toEqual({ message: '0 of 2 workers running', isDataAvailable: false, isTriggerActive: false })
    await expect(query.awaitTermination()).resolves.toBe(true)
    expect(terminated).toEqual([query])
  })

  it('an idle query on worker threads does not say a trigger is active, so the stalled rule never fires on it', async () => {
    // The main thread sees no trigger of the workers (as it sees no data): it must not claim one runs.
    const { query, workers } = await started(4, 2)
    const watcher = stalled({ after: 100 }).watch(query)
    const now = Date.now()
    expect(watcher.tick!(now)).toEqual({ firing: false })
    expect(watcher.tick!(now + 60_000)).toEqual({ firing: false })
    expect(query.status.isTriggerActive).toBe(false)
    await endAll(query, workers)
  })

  it('stop() asks each running worker to stop and resolves once all exited', async () => {
    const { query, workers } = await started(4, 2)
    exit(workers[1]!)
    const stop = probe(query.stop())
    expect(workers[0]!.posted).toEqual([{ type: 'stop' }])
    expect(workers[1]!.posted).toEqual([])
    await flush()
    expect(stop.state()).toBe('pending')
    send(workers[0]!, { type: 'terminated' })
    exit(workers[0]!)
    await flush()
    expect(stop.state()).toBe('resolved')
    expect(query.isActive).toBe(false)
    expect(query.exception).toBeUndefined()
  })

  it('explain(false) returns the worker layout and prints nothing; explain() prints it once', async () => {
    const { query, workers } = await started(4, 2)
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const text = 'Runs its tasks on 2 worker threads (task p on worker p mod 2)'
    expect(query.explain(false)).toBe(text)
    expect(log).not.toHaveBeenCalled()
    expect(query.explain()).toBe(text)
    expect(log.mock.calls).toEqual([[text]])
    await endAll(query, workers)
  })

  it('records each task\'s progress: recent progress up to the session\'s limit, progress$, the session, and the scale-out view', async () => {
    const { query, workers } = await started(3, 2)
    const seen: StreamingQueryProgress[] = []
    let completed = false
    query.progress$.subscribe({ next: (p) => seen.push(p), complete: () => (completed = true) })
    const [p0, p1, p2] = [progress(0, 10, 5, 20), progress(0, 4, 2, 8), progress(1, 6, 3, 12)]
    send(workers[0]!, { type: 'progress', task: 0, progress: p0 })
    send(workers[1]!, { type: 'progress', task: 1, progress: p1 })
    send(workers[0]!, { type: 'progress', task: 2, progress: p2 })
    expect(seen).toEqual([p0, p1, p2])
    expect(progressed).toEqual([[query, p0], [query, p1], [query, p2]])
    expect(query.recentProgress).toEqual([p1, p2])
    expect(query.lastProgress).toBe(p2)
    expect(scaleOutOf(query)).toEqual({
      tasks: 3,
      taskStatus: [
        { task: 0, owner: 'worker-0', lastBatchId: 0, inputRowsPerSecond: 5, processedRowsPerSecond: 20 },
        { task: 1, owner: 'worker-1', lastBatchId: 0, inputRowsPerSecond: 2, processedRowsPerSecond: 8 },
        { task: 2, owner: 'worker-0', lastBatchId: 1, inputRowsPerSecond: 3, processedRowsPerSecond: 12 },
      ],
      aggregate: { numInputRows: 20, inputRowsPerSecond: 10, processedRowsPerSecond: 40 },
    })
    await endAll(query, workers)
    expect(completed).toBe(true)
  })

  it('a task without progress yet shows no batch', async () => {
    const { query, workers } = await started(2, 2)
    expect(scaleOutOf(query)!.taskStatus).toEqual([
      { task: 0, owner: 'worker-0', lastBatchId: null, inputRowsPerSecond: null, processedRowsPerSecond: null },
      { task: 1, owner: 'worker-1', lastBatchId: null, inputRowsPerSecond: null, processedRowsPerSecond: null },
    ])
    expect(query.lastProgress).toBeUndefined()
    await endAll(query, workers)
  })

  it('awaitTermination(timeout) is false while the workers run', async () => {
    const { query, workers } = await started(2, 2)
    await expect(query.awaitTermination(0)).resolves.toBe(false)
    await endAll(query, workers)
    await expect(query.awaitTermination(0)).resolves.toBe(true)
  })
})

describe('processAllAvailable on worker threads', () => {
  it('asks every running worker, with a new sequence number each time, and resolves once all drained', async () => {
    const { query, workers } = await started(4, 2)
    const first = probe(query.processAllAvailable())
    expect(workers.map((w) => w.posted)).toEqual([[{ type: 'processAllAvailable', seq: 1 }], [{ type: 'processAllAvailable', seq: 1 }]])
    send(workers[0]!, { type: 'drained', seq: 1 })
    send(workers[0]!, { type: 'drained', seq: 99 })
    await flush()
    expect(first.state()).toBe('pending')
    send(workers[1]!, { type: 'drained', seq: 1 })
    await flush()
    expect(first.state()).toBe('resolved')
    const second = query.processAllAvailable()
    expect(workers[1]!.posted.at(-1)).toEqual({ type: 'processAllAvailable', seq: 2 })
    for (const w of workers) send(w, { type: 'drained', seq: 2 })
    await expect(second).resolves.toBeUndefined()
    await endAll(query, workers)
  })

  it('rejects with the error a worker drained with, rebuilt, and ignores the other workers\' answers', async () => {
    const { query, workers } = await started(4, 2)
    const drain = query.processAllAvailable()
    send(workers[1]!, { type: 'drained', seq: 1, error: { name: 'Error', code: 'EIO', message: 'cannot read part 1' } })
    const error = await drain.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as Error).message).toBe('Error: cannot read part 1')
    expect((error as StreamingQueryError).cause).toEqual({ name: 'Error', code: 'EIO', message: 'cannot read part 1' })
    send(workers[0]!, { type: 'drained', seq: 1 })
    // The query itself has not failed: the next drain asks the workers again.
    expect(query.exception).toBeUndefined()
    const next = query.processAllAvailable()
    for (const w of workers) send(w, { type: 'drained', seq: 2 })
    await expect(next).resolves.toBeUndefined()
    await endAll(query, workers)
  })

  it('rejects a drain in flight when a worker exits', async () => {
    const { query, workers } = await started(4, 2)
    const drain = query.processAllAvailable()
    exit(workers[0]!)
    const error = await drain.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as Error).message).toBe('Error: a worker thread exited')
    await endAll(query, workers)
  })

  it('resolves at once when no worker runs any more', async () => {
    const { query, workers } = await started(2, 2)
    await endAll(query, workers)
    await expect(query.processAllAvailable()).resolves.toBeUndefined()
    expect(workers.map((w) => w.posted)).toEqual([[], []])
  })

  it('rejects with a failed task\'s error, without asking the workers', async () => {
    const { query, workers } = await started(4, 2)
    send(workers[0]!, { type: 'terminated', error: { name: 'StreamingQueryError', code: 'SRX_QUERY_FAILED', message: 'task 2 broke' } })
    expect(query.exception?.message).toBe('StreamingQueryError: task 2 broke')
    await expect(query.processAllAvailable()).rejects.toBe(query.exception)
    expect(workers.map((w) => w.posted.filter((m) => (m as { type: string }).type === 'processAllAvailable'))).toEqual([[], []])
    await endAll(query, workers)
  })
})

describe('a failing worker', () => {
  it('a task that failed makes its error the query\'s and stops the other workers; awaitTermination rejects with it', async () => {
    const { query, workers } = await started(4, 2)
    send(workers[1]!, { type: 'terminated', error: { name: 'StreamingQueryError', code: 'SRX_QUERY_FAILED', message: 'task 1 broke' } })
    const failure = query.exception!
    expect(failure).toBeInstanceOf(StreamingQueryError)
    expect(failure.message).toBe('StreamingQueryError: task 1 broke')
    expect(workers.map((w) => w.posted)).toEqual([[{ type: 'stop' }], [{ type: 'stop' }]])
    // A second failure does not replace the first.
    send(workers[0]!, { type: 'terminated', error: { name: 'Error', code: undefined, message: 'later' } })
    expect(query.exception).toBe(failure)
    exit(workers[0]!)
    exit(workers[1]!)
    await expect(query.awaitTermination()).rejects.toBe(failure)
    await expect(query.awaitTermination(1000)).rejects.toBe(failure)
    expect(terminated).toEqual([query])
  })

  it('a worker that terminated cleanly leaves the query without error', async () => {
    const { query, workers } = await started(2, 2)
    send(workers[0]!, { type: 'terminated' })
    expect(query.exception).toBeUndefined()
    expect(workers.map((w) => w.posted)).toEqual([[], []])
    await endAll(query, workers)
  })

  it('an error event of a running worker fails the query with "a worker failed", keeping the error as its cause', async () => {
    const { query, workers } = await started(2, 2)
    const crash = new RangeError('Maximum call stack size exceeded')
    workers[0]!.emit('error', crash)
    expect(query.exception).toBeInstanceOf(StreamingQueryError)
    expect(query.exception!.message).toBe('a worker failed: Maximum call stack size exceeded')
    expect(query.exception!.cause).toBe(crash)
    expect(workers[1]!.posted).toEqual([{ type: 'stop' }])
    await endAll(query, workers)
  })
})
