/**
 * The cluster member's handle (ClusterQuery), the options check of clusters and the handle of a repartitioned query,
 * driven in-process with hand-made task queries: a fake query ends only when the test says so, so every step (a task
 * that fails, fails to start, loses its lease while stopping) is an explicit event. Leases live in a memory
 * coordinator on a fake clock: they expire only when the test moves it.
 */
import { Subject } from 'rxjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { CheckpointFs } from '../../src/durable/checkpointFs.js'
import type { Coordinator, Lease } from '../../src/durable/lease.js'
import { memoryCoordinator } from '../../src/durable/memoryCoordinator.js'
import { InvalidQueryError, StreamingQueryError } from '../../src/errors.js'
import { checkCluster, joinCluster } from '../../src/exec/cluster.js'
import { ClusterQuery } from '../../src/exec/clusterQuery.js'
import type { ClusterTask, ClusterWork } from '../../src/exec/clusterWork.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from '../../src/exec/progress.js'
import type { ClusterOptions, SessionContext } from '../../src/exec/queryRun.js'
import { RepartitionedQuery } from '../../src/exec/repartitionedQuery.js'
import type { StreamingQuery } from '../../src/exec/streamingQuery.js'
import type { Trigger } from '../../src/exec/trigger.js'
import { until } from '../support/clusterMembers.js'

/** A query that ends only by `end` (or by `stop`, unless `holdStop` keeps it running until `end`). */
class FakeQuery implements StreamingQuery {
  readonly id: string
  readonly runId = 'run'
  readonly name = undefined
  readonly trigger: Trigger = { kind: 'processingTime', intervalMs: 0 }
  status: StreamingQueryStatus = { message: 'fake idle', isDataAvailable: false, isTriggerActive: false }
  recentProgress: StreamingQueryProgress[] = []
  readonly progress$ = new Subject<StreamingQueryProgress>()
  isActive = true
  exception: StreamingQueryError | undefined
  stops = 0
  drains = 0
  holdStop = false

  constructor(
    private readonly ctx: SessionContext,
    readonly label: string,
  ) {
    this.id = label
  }

  get lastProgress(): StreamingQueryProgress | undefined {
    return this.recentProgress.at(-1)
  }

  emit(progress: StreamingQueryProgress): void {
    this.recentProgress.push(progress)
    this.progress$.next(progress)
  }

  end(error?: StreamingQueryError): void {
    if (!this.isActive) return
    this.exception = error
    this.isActive = false
    this.progress$.complete()
    this.ctx.onTerminated(this)
  }

  async stop(): Promise<void> {
    this.stops++
    if (!this.holdStop) this.end()
  }

  async awaitTermination(): Promise<boolean> {
    return !this.isActive
  }

  async processAllAvailable(): Promise<void> {
    this.drains++
  }

  explain(print = true): string {
    if (print) console.log(this.label)
    return `explained ${this.label}\n`
  }
}

const progressOf = (name: string, batchId: number, numInputRows: number, timestamp = `2026-01-01T00:00:0${batchId}.000Z`) =>
  ({
    id: name,
    runId: 'run',
    name,
    timestamp,
    batchId,
    batchDuration: 1,
    numInputRows,
    inputRowsPerSecond: 0,
    processedRowsPerSecond: 0,
    durationMs: { latestOffset: 0, getOffset: 0, triggerExecution: 1 },
  }) as unknown as StreamingQueryProgress

function sessionOf(warnings: string[] = [], terminated: StreamingQuery[] = [], numRecentProgressUpdates = 100): SessionContext {
  return {
    fs: {} as CheckpointFs,
    shufflePartitions: 4,
    patchDeltas: false,
    retention: {} as SessionContext['retention'],
    numRecentProgressUpdates,
    noDataProgressEventIntervalMs: 10_000,
    warn: (m) => warnings.push(m),
    onStarted: () => undefined,
    onProgress: () => undefined,
    onIdle: () => undefined,
    onTerminated: (q) => terminated.push(q),
  }
}

/** Tasks that start fake queries (kept per task, newest last), or fail to start while `refuse` names them. */
function fakeWork(n: number, options: { queryName?: string; trigger?: Trigger } = {}) {
  const started: FakeQuery[][] = Array.from({ length: n }, () => [])
  const refuse = new Set<number>()
  const tasks: ClusterTask[] = Array.from({ length: n }, (_, p) => ({
    name: `task-${p}`,
    label: `task ${p}`,
    start: async (ctx: SessionContext) => {
      if (refuse.has(p)) throw new Error(`no source for ${p}`)
      const q = new FakeQuery(ctx, `task ${p}`)
      started[p]!.push(q)
      return q
    },
  }))
  const work: ClusterWork = { queryName: options.queryName, trigger: options.trigger, checkpointLocation: '/ckpt', tasks, describe: () => 'the fake plan' }
  return { work, started, refuse, latest: (p: number) => started[p]!.at(-1)! }
}

/** The memory coordinator on a clock the test moves, recording each renewal's task and epoch. */
function clockedCoordinator(ttlMs = 1_000) {
  let now = 0
  const inner = memoryCoordinator({ ttlMs, now: () => now })
  const renewed: string[] = []
  const coordinator: Coordinator = {
    ...inner,
    renew: (lease: Lease) => (renewed.push(`${lease.task}@${lease.epoch}`), inner.renew(lease)),
  }
  return { coordinator, inner, renewed, advance: (ms: number) => void (now += ms) }
}

const members: ClusterQuery[] = []
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop()))
})

function memberOf(session: SessionContext, work: ClusterWork, coordinator: Coordinator, member = 'm1', name = 'edges'): ClusterQuery {
  const query = new ClusterQuery(session, work, { name, coordinator, heartbeatMs: 5 }, member)
  members.push(query)
  query.join()
  return query
}

describe('checkCluster', () => {
  const coordinator = memoryCoordinator({ ttlMs: 1_000 })
  const def = { checkpointLocation: '/shared/ckpt' }
  const check = (cluster: Partial<ClusterOptions>, d: { checkpointLocation?: string; parallelism?: number } = def) => () =>
    checkCluster(d, { name: 'counts', coordinator, ...cluster } as ClusterOptions)

  it('returns the checkpoint location for valid options, with signals left out, false, or a list of names', () => {
    expect(check({})()).toBe('/shared/ckpt')
    expect(check({ stopOnSignals: false })()).toBe('/shared/ckpt')
    expect(check({ stopOnSignals: ['SIGINT', 'SIGUSR2', 'SIGRTMIN'] as NodeJS.Signals[] })()).toBe('/shared/ckpt')
    expect(check({ stopOnSignals: [] })()).toBe('/shared/ckpt')
    expect(check({ name: 'a'.repeat(64) })()).toBe('/shared/ckpt')
    expect(check({}, { checkpointLocation: '/x', parallelism: 1 })()).toBe('/x')
  })

  it('rejects a name that is not 1-64 letters, digits, _ or -', () => {
    const message = (got: string) => `writeStream: cluster.name must be 1-64 letters, digits, '_' or '-', got ${got}`
    expect(check({ name: '' })).toThrow(new InvalidQueryError(message('""')))
    expect(check({ name: 'a'.repeat(65) })).toThrow(message(JSON.stringify('a'.repeat(65))))
    expect(check({ name: 'a/b' })).toThrow(message('"a/b"'))
    expect(check({ name: 'ok\n' })).toThrow(message('"ok\\n"'))
    expect(check({ name: 7 as unknown as string })).toThrow(message('7'))
    expect(check({ name: 'a/b' })).toThrow(InvalidQueryError)
  })

  it('rejects a heartbeat or call timeout that is not a positive number, naming the value', () => {
    expect(check({ heartbeatMs: 0 })).toThrow(new InvalidQueryError('writeStream: cluster.heartbeatMs must be a positive number, got 0'))
    expect(check({ heartbeatMs: Number.NaN })).toThrow('writeStream: cluster.heartbeatMs must be a positive number, got NaN')
    expect(check({ callTimeoutMs: -1 })).toThrow(new InvalidQueryError('writeStream: cluster.callTimeoutMs must be a positive number, got -1'))
    // The call timeout defaults to four heartbeats, so a bad heartbeat is named first.
    expect(check({ heartbeatMs: -5 })).toThrow('cluster.heartbeatMs must be a positive number, got -5')
  })

  it('rejects signals that are not false or a list of SIG names', () => {
    const message = (got: unknown) => `writeStream: cluster.stopOnSignals must be false or a list of signal names such as 'SIGINT', got ${JSON.stringify(got)}`
    for (const bad of [true, 'SIGINT', ['SIGINT', 'INT'], ['SIGINT!'], ['sigint'], ['SIG'], [15], ['SIGTERM', 'SIGINT x']]) {
      expect(check({ stopOnSignals: bad as unknown as NodeJS.Signals[] })).toThrow(new InvalidQueryError(message(bad)))
    }
  })

  it('rejects a cluster without a checkpoint location or with parallelism above 1', () => {
    expect(check({}, {})).toThrow(
      new InvalidQueryError(
        "writeStream: cluster 'counts' needs a checkpointLocation that every member reads (a shared directory or S3): " +
          'a task that moves to another member restores its state from there',
      ),
    )
    expect(check({}, { checkpointLocation: '/x', parallelism: 3 })).toThrow(
      new InvalidQueryError("writeStream: cluster 'counts' runs one task loop per member; run more members instead of parallelism 3"),
    )
  })
})

describe('ClusterQuery', () => {
  it('takes every free task, reports them, forwards their progress and gives everything back on stop', async () => {
    const warnings: string[] = []
    const terminated: StreamingQuery[] = []
    const { coordinator, inner } = clockedCoordinator()
    const { work, latest } = fakeWork(2, { queryName: 'counts' })
    const query = memberOf(sessionOf(warnings, terminated, 2), work, coordinator)
    expect(query.name).toBe('counts')
    expect(query.trigger).toEqual({ kind: 'processingTime', intervalMs: 0 })
    expect(query.isActive).toBe(true)
    await until('both tasks run', () => query.runningTasks.length === 2 && query.clusterView.tasks.every((t) => t.owner === 'm1'))
    await query.processAllAvailable()
    expect([latest(0).drains, latest(1).drains]).toEqual([1, 1])
    expect(query.runningTasks).toEqual([0, 1])
    expect(query.clusterView.members).toEqual(['m1'])
    expect(query.status).toEqual({ message: 'member m1 of cluster edges: tasks [0, 1] of 2', isDataAvailable: false, isTriggerActive: false })
    latest(1).status = { message: 'busy', isDataAvailable: true, isTriggerActive: false }
    expect(query.status).toMatchObject({ isDataAvailable: true, isTriggerActive: false })
    latest(0).status = { message: 'busy', isDataAvailable: false, isTriggerActive: true }
    expect(query.status).toMatchObject({ isDataAvailable: true, isTriggerActive: true })
    expect(query.explain(false)).toBe('Runs as 2 tasks shared by the members of cluster edges (here: task 0, task 1); the fake plan')

    const seen: number[] = []
    query.progress$.subscribe((p) => seen.push(p.batchId))
    latest(0).emit(progressOf('a', 1, 3))
    latest(1).emit(progressOf('b', 2, 4))
    latest(0).emit(progressOf('a', 3, 5))
    expect(seen).toEqual([1, 2, 3])
    // Only the last numRecentProgressUpdates (2) are kept.
    expect(query.recentProgress.map((p) => p.batchId)).toEqual([2, 3])
    expect(query.lastProgress?.batchId).toBe(3)
    expect(query.scaleOut.aggregate.numInputRows).toBe(9)

    const [t0, t1] = [latest(0), latest(1)]
    await query.stop()
    expect([t0.stops, t1.stops]).toEqual([1, 1])
    expect(query.isActive).toBe(false)
    expect(terminated).toEqual([query])
    expect(await query.awaitTermination(0)).toBe(true)
    expect(query.exception).toBeUndefined()
    expect(await inner.members()).toEqual([])
    expect((await inner.leases()).map((l) => [l.task, l.expiresAt])).toEqual([
      ['edges/task-0', -Infinity],
      ['edges/task-1', -Infinity],
    ])
    expect(query.explain(false)).toBe('Runs as 2 tasks shared by the members of cluster edges (here: none); the fake plan')
    expect(warnings).toEqual([])
  })

  it('awaitTermination is false while the member runs and throws the error of a task that failed while held', async () => {
    const { coordinator, inner } = clockedCoordinator()
    const { work, latest } = fakeWork(2)
    const terminated: StreamingQuery[] = []
    const query = memberOf(sessionOf([], terminated), work, coordinator)
    await until('both tasks run', () => query.runningTasks.length === 2)
    expect(await query.awaitTermination(0)).toBe(false)
    const boom = new StreamingQueryError('task 1 broke', new Error('x'), undefined, undefined)
    latest(1).end(boom)
    await expect(query.awaitTermination()).rejects.toBe(boom)
    expect(query.exception).toBe(boom)
    expect(query.isActive).toBe(false)
    expect(latest(0).stops).toBe(1)
    expect(terminated).toEqual([query])
    await expect(query.processAllAvailable()).rejects.toBe(boom)
    // The failed task's lease is given back as well as the other's.
    expect((await inner.leases()).every((l) => l.expiresAt === -Infinity)).toBe(true)
  })

  it('fails the member, naming the task, when a task cannot start', async () => {
    const { coordinator, inner } = clockedCoordinator()
    const { work, refuse } = fakeWork(2)
    refuse.add(1)
    const query = memberOf(sessionOf(), work, coordinator)
    await expect(query.awaitTermination()).rejects.toThrow('cluster edges: task 1 could not start: no source for 1')
    expect(query.exception).toBeInstanceOf(StreamingQueryError)
    expect((await inner.leases()).find((l) => l.task === 'edges/task-1')?.expiresAt).toBe(-Infinity)
  })

  it('processAllAvailable while a held task is starting and then fails to start rejects with the member\'s error', async () => {
    const { coordinator } = clockedCoordinator()
    const { work, latest } = fakeWork(2)
    let failStart!: (e: Error) => void
    const gate = new Promise<never>((_, reject) => (failStart = reject))
    const slow = work.tasks[1]!
    const gated: ClusterWork = { ...work, tasks: [work.tasks[0]!, { ...slow, start: async () => gate }] }
    const query = memberOf(sessionOf(), gated, coordinator)
    await until('both tasks are held', () => query.runningTasks.length === 2 && latest(0) !== undefined)
    const drain = query.processAllAvailable()
    failStart(new Error('no source for 1'))
    const error = await drain.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as Error).message).toBe('cluster edges: task 1 could not start: no source for 1')
    expect(error).toBe(query.exception)
    expect(latest(0).drains).toBe(1)
  })

  it('stops a task whose lease expired, renews it no more while it stops, warns, and takes it again at a new epoch', async () => {
    const warnings: string[] = []
    const { coordinator, renewed, advance } = clockedCoordinator(1_000)
    const { work, started, latest } = fakeWork(1)
    const query = memberOf(sessionOf(warnings), work, coordinator)
    await until('the task runs', () => query.runningTasks.length === 1)
    const first = latest(0)
    first.holdStop = true
    await until('the task was renewed', () => renewed.includes('edges/task-0@1'))
    // Paused past the TTL: the next renewal finds the lease expired.
    advance(5_000)
    await until('the lost task is told to stop', () => first.stops === 1)
    expect(query.runningTasks).toEqual([])
    const count = renewed.length
    // Several heartbeats pass while the lost task is stopping: its lease is renewed no more and it is not taken again.
    for (let beat = 0; beat < 3; beat++) {
      const view = query.clusterView
      await until('another heartbeat', () => query.clusterView !== view)
    }
    expect(renewed.slice(count)).toEqual([])
    expect(first.stops).toBe(1)
    expect(started[0]!.length).toBe(1)
    first.end()
    await until('the task is taken again', () => started[0]!.length === 2 && query.runningTasks.length === 1)
    expect(warnings).toEqual([`structured-rx: cluster edges: member m1 lost task 0 (epoch 1); it stopped without committing further`])
    await until('the new lease is renewed', () => renewed.includes('edges/task-0@2'))
  })
})

describe('joinCluster', () => {
  it('joins with a heartbeat before returning, runs the work and leaves on stop', async () => {
    const inner = memoryCoordinator({ ttlMs: 60_000 })
    const { work } = fakeWork(1)
    const query = await joinCluster(sessionOf(), { name: 'joined', coordinator: inner, heartbeatMs: 5, stopOnSignals: false }, work)
    members.push(query)
    expect(await inner.members()).toEqual([`joined/${query.member}`])
    expect(query.member).toMatch(/^.+-\d+-[0-9a-f]{8}$/)
    await until('the task runs', () => query.runningTasks.length === 1)
    await query.stop()
    expect(await inner.members()).toEqual([])
  })
})

describe('joinCluster without callTimeoutMs', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('bounds calls by four heartbeats: a coordinator answering within two keeps the member running its tasks', async () => {
    vi.useFakeTimers()
    const inner = memoryCoordinator({ ttlMs: 60_000 })
    // Every call answers 150 ms later: within two heartbeats of 100 ms, so within the default bound of 400 ms.
    const slow = Object.fromEntries(
      Object.entries(inner).map(([name, call]) => [
        name,
        (...args: unknown[]) => new Promise((resolve) => setTimeout(resolve, 150)).then(() => (call as (...a: unknown[]) => unknown)(...args)),
      ]),
    ) as unknown as Coordinator
    const warnings: string[] = []
    const { work, latest } = fakeWork(1)
    const joining = joinCluster(sessionOf(warnings), { name: 'slow', coordinator: slow, heartbeatMs: 100, stopOnSignals: false }, work)
    await vi.advanceTimersByTimeAsync(150)
    const query = await joining
    members.push(query)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(warnings).toEqual([])
    expect(query.exception).toBeUndefined()
    expect(query.runningTasks).toEqual([0])
    expect(latest(0).isActive).toBe(true)
    const stopping = query.stop()
    await vi.advanceTimersByTimeAsync(2_000)
    await stopping
  })
})

describe('RepartitionedQuery', () => {
  /** A handle over via `v` with 3 partitions, whose parts are fake queries the test ends. */
  function repartitioned(trigger?: Trigger) {
    const terminated: StreamingQuery[] = []
    const query = new RepartitionedQuery('id-1', 'counts', trigger, 'v', 3, sessionOf([], terminated))
    const parts: { one?: FakeQuery; two?: FakeQuery } = {}
    const startOne = async (ctx: SessionContext) => (parts.one = new FakeQuery(ctx, 'one'))
    const startTwo = async (ctx: SessionContext) => (parts.two = new FakeQuery(ctx, 'two'))
    return { query, parts, terminated, startOne, startTwo }
  }
  const noTasks = { tasks: 3, taskStatus: [], aggregate: { numInputRows: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0 } }

  it('runs both parts at once with a processing-time trigger, as one query', async () => {
    const { query, parts, terminated, startOne, startTwo } = repartitioned()
    expect(query.status).toEqual({ message: 'repartition into v: starting; tasks: starts when part one has finished', isDataAvailable: false, isTriggerActive: false })
    expect(query.trigger).toEqual({ kind: 'processingTime', intervalMs: 0 })
    expect(query.scaleOut).toEqual(noTasks)
    await query.start(startOne, startTwo)
    const { one, two } = parts as { one: FakeQuery; two: FakeQuery }
    expect([query.id, query.name, query.via, query.partitions]).toEqual(['id-1', 'counts', 'v', 3])
    expect(query.status).toEqual({ message: 'repartition into v: fake idle; tasks: fake idle', isDataAvailable: false, isTriggerActive: false })
    one.status = { message: 'writing', isDataAvailable: true, isTriggerActive: false }
    two.status = { message: 'reading', isDataAvailable: false, isTriggerActive: true }
    expect(query.status).toEqual({ message: 'repartition into v: writing; tasks: reading', isDataAvailable: true, isTriggerActive: true })
    expect(query.explain(false)).toBe(
      'Runs in two parts through v:\nPart one writes every row into its key\'s partition:\nexplained one\n\nPart two, as 3 tasks over those partitions:\nexplained two\n',
    )
    const seen: string[] = []
    query.progress$.subscribe((p) => seen.push(`${p.name}:${p.batchId}`))
    two.emit(progressOf('two', 1, 2, '2026-01-01T00:00:02.000Z'))
    one.emit(progressOf('one', 2, 3, '2026-01-01T00:00:01.000Z'))
    one.emit(progressOf('one', 3, 3, '2026-01-01T00:00:03.000Z'))
    expect(seen).toEqual(['two:1', 'one:2', 'one:3'])
    expect(query.recentProgress.map((p) => `${p.name}:${p.batchId}`)).toEqual(['one:2', 'two:1', 'one:3'])
    expect(query.lastProgress?.batchId).toBe(3)
    await query.processAllAvailable()
    expect([one.drains, two.drains]).toEqual([1, 1])

    // A part that ended counts neither for data available nor for an active trigger.
    one.end()
    expect(query.isActive).toBe(true)
    expect(query.status).toMatchObject({ isDataAvailable: false, isTriggerActive: true })
    two.isActive = false
    expect(query.status).toMatchObject({ isDataAvailable: false, isTriggerActive: false })
    two.isActive = true
    expect(await query.awaitTermination(0)).toBe(false)
    await query.stop()
    expect([one.stops, two.stops]).toEqual([1, 1])
    expect(query.isActive).toBe(false)
    expect(terminated).toEqual([query])
    expect(await query.awaitTermination()).toBe(true)
    expect(query.exception).toBeUndefined()
  })

  it('stops the other part when one fails, and the failure becomes the query\'s', async () => {
    const { query, parts, terminated, startOne, startTwo } = repartitioned()
    await query.start(startOne, startTwo)
    const boom = new StreamingQueryError('part one broke', new Error('x'), undefined, undefined)
    parts.one!.end(boom)
    await expect(query.awaitTermination()).rejects.toBe(boom)
    expect(parts.two!.stops).toBe(1)
    expect(query.exception).toBe(boom)
    expect(terminated).toEqual([query])
    await expect(query.processAllAvailable()).rejects.toBe(boom)
  })

  it('stops part one and throws when part two cannot start', async () => {
    const { query, parts, startOne } = repartitioned()
    await expect(query.start(startOne, async () => Promise.reject(new Error('no tasks')))).rejects.toThrow('no tasks')
    expect(parts.one!.stops).toBe(1)
    expect(query.status.message).toBe('repartition into v: fake idle; tasks: not started')
  })

  it('with trigger once, starts part two only after part one has finished, and ends after it', async () => {
    const { query, parts, terminated, startOne, startTwo } = repartitioned({ kind: 'once' })
    await query.start(startOne, startTwo)
    expect(parts.two).toBeUndefined()
    expect(query.status.message).toBe('repartition into v: fake idle; tasks: starts when part one has finished')
    expect(query.scaleOut).toEqual(noTasks)
    expect(query.explain(false)).toBe(
      'Runs in two parts through v:\nPart one writes every row into its key\'s partition:\nexplained one\n\nPart two, as 3 tasks over those partitions:\n(starts when part one has finished)\n',
    )
    const drained = query.processAllAvailable()
    parts.one!.end()
    await drained
    expect(parts.two!.drains).toBe(1)
    expect(query.status.message).toBe('repartition into v: fake idle; tasks: fake idle')
    expect(query.isActive).toBe(true)
    parts.two!.end()
    expect(query.isActive).toBe(false)
    expect(terminated).toEqual([query])
    expect(await query.awaitTermination()).toBe(true)
  })

  it('with trigger once, fails naming the via when the deferred part two cannot start', async () => {
    const { query, parts, startOne } = repartitioned({ kind: 'availableNow' })
    await query.start(startOne, async () => Promise.reject(new Error('bad partitions')))
    parts.one!.end()
    await expect(query.awaitTermination()).rejects.toThrow('the tasks over v could not start: bad partitions')
    expect(query.exception).toBeInstanceOf(StreamingQueryError)
    expect(query.exception?.message).toBe('the tasks over v could not start: bad partitions')
    expect(query.isActive).toBe(false)
    expect(query.status.message).toBe('repartition into v: fake idle; tasks: not started')
  })

  it('with trigger once, never starts part two once stopped', async () => {
    const { query, parts, terminated, startOne, startTwo } = repartitioned({ kind: 'once' })
    await query.start(startOne, startTwo)
    await query.stop()
    expect(parts.two).toBeUndefined()
    expect(query.isActive).toBe(false)
    expect(terminated).toEqual([query])
    expect(query.status.message).toBe('repartition into v: fake idle; tasks: not started')
    expect(await query.awaitTermination()).toBe(true)
  })
})
