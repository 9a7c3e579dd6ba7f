/**
 * The pieces of running as tasks that need no running query: the TasksQuery handle over hand-made tasks, the checks
 * of a partitioned query and of a repartition split (their whole messages), and the scale-out aggregate.
 */
import * as t from 'io-ts'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { StreamingQueryError } from '../../src/errors.js'
import type { StreamingQueryProgress } from '../../src/exec/progress.js'
import { splitAtRepartition } from '../../src/exec/repartition.js'
import { aggregateOf } from '../../src/exec/scaleOutView.js'
import type { SessionContext } from '../../src/exec/queryRun.js'
import { checkPartitioning, startTasks, taskDefinition } from '../../src/exec/tasks.js'
import { TasksQuery } from '../../src/exec/tasksQuery.js'
import {
  count,
  createSession,
  filter,
  flatMap,
  groupBy,
  InvalidQueryError,
  jetStreamPartitions,
  map,
  memorySink,
  memorySource,
  partitionedSource,
  PartitioningMismatchError,
  repartition,
  withWatermark,
} from '../../src/index.js'
import { FakeTask } from '../exec/fixtures/workerQuery.js'

afterEach(() => {
  vi.restoreAllMocks()
})

interface Click {
  readonly user: string
  readonly ts: number
}
const Click = t.type({ user: t.string, ts: t.number })
const user = (c: Click) => c.user

/** The plan nodes of `ops` piped after a memory source. */
const nodesOf = (...ops: unknown[]) =>
  (createSession().readStream(memorySource<Click>().source) as unknown as { pipe(...o: unknown[]): { planNodes: never } }).pipe(...ops).planNodes

const via = () => jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 2, codec: Click })

/** Tasks made by hand, with a status each, seen as one TasksQuery. */
function tasksQuery(n: number, indices = Array.from({ length: n }, (_, i) => i), partitions = n) {
  const tasks = indices.map((p) => new FakeTask(`task-${p}`))
  const query = new TasksQuery('q', 'run-1', tasks, indices, partitions)
  for (const task of tasks) task.owner = query
  const setStatus = (i: number, isDataAvailable: boolean, isTriggerActive: boolean) =>
    ((tasks[i] as { status: unknown }).status = { message: 'x', isDataAvailable, isTriggerActive })
  return { tasks, query, setStatus }
}

describe('TasksQuery', () => {
  it('is active while any task is, and not once every task stopped', async () => {
    const { tasks, query } = tasksQuery(2)
    expect(query.isActive).toBe(true)
    tasks[0]!.end()
    expect(query.isActive).toBe(true)
    expect(query.status.message).toBe('1 of 2 tasks active')
    await query.stop()
    expect(tasks.map((task) => task.isActive)).toEqual([false, false])
    expect(query.isActive).toBe(false)
    expect(query.status).toEqual({ message: '0 of 2 tasks active', isDataAvailable: false, isTriggerActive: false })
    await expect(query.awaitTermination()).resolves.toBe(true)
    expect(query.exception).toBeUndefined()
  })

  it('has data available, or a trigger active, when any active task has', () => {
    const { tasks, query, setStatus } = tasksQuery(3)
    expect(query.status).toEqual({ message: '3 of 3 tasks active', isDataAvailable: false, isTriggerActive: false })
    setStatus(1, true, false)
    expect(query.status).toEqual({ message: '3 of 3 tasks active', isDataAvailable: true, isTriggerActive: false })
    setStatus(1, false, false)
    setStatus(2, false, true)
    expect(query.status).toEqual({ message: '3 of 3 tasks active', isDataAvailable: false, isTriggerActive: true })
    // A task that ended counts no more, whatever its last status says.
    setStatus(0, true, true)
    setStatus(2, false, false)
    tasks[0]!.end()
    expect(query.status).toEqual({ message: '2 of 3 tasks active', isDataAvailable: false, isTriggerActive: false })
  })

  it('the first task that fails makes its error the query\'s and stops the others', async () => {
    const { tasks, query } = tasksQuery(3)
    const broke = new StreamingQueryError('task 1 broke', undefined, 0, undefined)
    tasks[1]!.end(broke)
    expect(query.exception).toBe(broke)
    expect(tasks.map((task) => task.isActive)).toEqual([false, false, false])
    await expect(query.awaitTermination()).rejects.toBe(broke)
  })

  it('a task that failed before the query was made fails it at once and stops the others', async () => {
    const tasks = [new FakeTask('task-0'), new FakeTask('task-1')]
    const broke = new StreamingQueryError('task 0 broke', undefined, 0, undefined)
    tasks[0]!.end(broke)
    const query = new TasksQuery(undefined, 'run', tasks, [0, 1], 2)
    expect(query.exception).toBe(broke)
    expect(tasks[1]!.isActive).toBe(false)
    expect(query.isActive).toBe(false)
  })

  it('a task stopped cleanly before the query was made leaves it without error', () => {
    const tasks = [new FakeTask('task-0'), new FakeTask('task-1')]
    tasks[0]!.end()
    const query = new TasksQuery(undefined, 'run', tasks, [0, 1], 2)
    expect(query.exception).toBeUndefined()
    expect(tasks[1]!.isActive).toBe(true)
    expect(query.isActive).toBe(true)
  })

  it('explain(false) says how many tasks run here and which, then one task\'s plan; explain() prints it once', () => {
    const { query } = tasksQuery(2, [1, 3], 4)
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const text = 'Runs as 4 tasks (2 here: 1, 3); each task:\ntask-1'
    expect(query.explain(false)).toBe(text)
    expect(log).not.toHaveBeenCalled()
    expect(query.explain()).toBe(text)
    expect(log.mock.calls).toEqual([[text]])
    expect(query.id).toBe('task-1')
    expect(query.trigger).toEqual({ kind: 'processingTime', intervalMs: 0 })
  })

  it('processAllAvailable waits for every task and rejects with a task\'s error', async () => {
    const { tasks, query } = tasksQuery(2)
    await expect(query.processAllAvailable()).resolves.toBeUndefined()
    tasks[1]!.drainError = new Error('cannot read')
    await expect(query.processAllAvailable()).rejects.toThrow('cannot read')
  })

  it('progress is every task\'s, oldest first, and the scale-out view sums the tasks\' last progress', () => {
    const { tasks, query } = tasksQuery(2, [0, 2], 3)
    const p = (batchId: number, timestamp: string, rates: number) =>
      ({ batchId, timestamp, numInputRows: rates, inputRowsPerSecond: rates, processedRowsPerSecond: 2 * rates }) as unknown as StreamingQueryProgress
    ;(tasks[0]!.recentProgress as StreamingQueryProgress[]).push(p(0, '2026-01-01T00:00:01Z', 1), p(1, '2026-01-01T00:00:03Z', 3))
    ;(tasks[1]!.recentProgress as StreamingQueryProgress[]).push(p(0, '2026-01-01T00:00:02Z', 5))
    ;(tasks[0] as { lastProgress: unknown }).lastProgress = tasks[0]!.recentProgress[1]
    expect(query.recentProgress.map((x) => x.timestamp)).toEqual(['2026-01-01T00:00:01Z', '2026-01-01T00:00:02Z', '2026-01-01T00:00:03Z'])
    expect(query.lastProgress?.timestamp).toBe('2026-01-01T00:00:03Z')
    expect(query.scaleOut).toEqual({
      tasks: 3,
      taskStatus: [
        { task: 0, owner: 'local', lastBatchId: 1, inputRowsPerSecond: 3, processedRowsPerSecond: 6 },
        { task: 2, owner: 'local', lastBatchId: null, inputRowsPerSecond: null, processedRowsPerSecond: null },
      ],
      aggregate: { numInputRows: 3, inputRowsPerSecond: 3, processedRowsPerSecond: 6 },
    })
  })
})

describe('aggregateOf', () => {
  it('sums the rows and both rates of every task', () => {
    const p = (numInputRows: number, inputRowsPerSecond: number, processedRowsPerSecond: number) =>
      ({ numInputRows, inputRowsPerSecond, processedRowsPerSecond }) as StreamingQueryProgress
    expect(aggregateOf(new Map([[0, p(10, 2.5, 40)], [3, p(5, 1.5, 20)]]))).toEqual({ numInputRows: 15, inputRowsPerSecond: 4, processedRowsPerSecond: 60 })
    expect(aggregateOf(new Map())).toEqual({ numInputRows: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0 })
  })
})

describe('checkPartitioning', () => {
  const source = (by: 'stableKeyHash' | 'unknown') => partitionedSource([memorySource<Click>({ name: 'a' }).source, memorySource<Click>({ name: 'b' }).source], { by })
  const def = (by: 'stableKeyHash' | 'unknown', nodes: never) => ({ source: source(by), nodes, outputMode: 'update' as const, sink: memorySink() })

  it('refuses a stateful query over a source not partitioned by key, naming the operators and every way out', () => {
    const check = () => checkPartitioning(def('unknown', nodesOf(groupBy(user, t.string), count())))
    expect(check).toThrow(PartitioningMismatchError)
    expect(check).toThrow(
      new PartitioningMismatchError(
        "Partitioned[2 × MemorySource[a]] is partitioned by 'unknown', but the query keeps state by key (count), so no " +
          "partition holds all rows of a key. Write the source with partitionBy of the grouping key (the engine's stable key hash) " +
          "and declare it (partitionedBy: 'stableKeyHash'), repartition it by the key (repartition(keyOf, keyCodec, { via })), or " +
          'read it as one source (a jetStream or redisStream without partitionedBy).',
      ),
    )
  })

  it('accepts a stateful query over a source partitioned by key, and a stateless one over any', () => {
    expect(() => checkPartitioning(def('stableKeyHash', nodesOf(groupBy(user, t.string), count())))).not.toThrow()
    expect(() => checkPartitioning(def('unknown', nodesOf(map((c: Click) => c.ts))))).not.toThrow()
  })
})

describe('splitAtRepartition', () => {
  it('returns undefined for a chain without repartition', () => {
    expect(splitAtRepartition(nodesOf(map((c: Click) => c)))).toBeUndefined()
  })

  it('splits after map, filter and flatMap, naming the repartition by its place', () => {
    const split = splitAtRepartition(
      nodesOf(
        map((c: Click) => c),
        filter((c: Click) => c.ts > 0),
        flatMap((c: Click) => [c, c]),
        repartition(user, t.string, { via: via() }),
        groupBy(user, t.string),
        count(),
      ),
    )!
    expect(split.label).toBe('repartition #4')
    expect(split.before.map((n) => n.kind)).toEqual(['map', 'filter', 'flatMap'])
    expect(split.node.kind).toBe('repartition')
    expect(split.after.map((n) => n.kind)).toEqual(['groupBy', 'aggregate'])
  })

  it('refuses a second repartition, saying how to partition by a second key', () => {
    const nodes = nodesOf(map((c: Click) => c), repartition(user, t.string, { via: via() }), repartition(user, t.string, { via: via() }))
    expect(() => splitAtRepartition(nodes)).toThrow(InvalidQueryError)
    expect(() => splitAtRepartition(nodes)).toThrow(
      new InvalidQueryError(
        "repartition #3: a query repartitions at most once (the first is repartition #2); to partition by a second key, write the first query's result to a partitioned stream and read it in a second query",
      ),
    )
  })

  it('refuses a watermark or a stateful operator before it, saying where to move it', () => {
    const nodes = nodesOf(filter((c: Click) => c.ts > 0), withWatermark((c: Click) => c.ts, 10), repartition(user, t.string, { via: via() }))
    expect(() => splitAtRepartition(nodes)).toThrow(
      new InvalidQueryError(
        'withWatermark #2 comes before repartition #3: only map, filter and flatMap may (the part before repartition only writes rows into its partitions); move it after repartition, where the query runs as tasks',
      ),
    )
  })
})

describe('startTasks and taskDefinition', () => {
  const source = () => partitionedSource([memorySource<Click>({ name: 'a' }).source, memorySource<Click>({ name: 'b' }).source], { by: 'unknown' })

  it('refuses a task the source has no partition for, before starting any', async () => {
    const def = { source: source(), nodes: nodesOf(map((c: Click) => c)), outputMode: 'append' as const, sink: memorySink() }
    await expect(startTasks({} as SessionContext, def, [0, 2])).rejects.toThrow(new RangeError('no task 2: the source has 2 partitions'))
    await expect(startTasks({} as SessionContext, def, [-1])).rejects.toThrow(new RangeError('no task -1: the source has 2 partitions'))
    await expect(startTasks({} as SessionContext, def, [0.5])).rejects.toThrow(new RangeError('no task 0.5: the source has 2 partitions'))
  })

  it('task p reads partition p, is named <name>[task p] and checkpoints under tasks/<p>', () => {
    const src = source()
    const def = { source: src, nodes: nodesOf(map((c: Click) => c)), outputMode: 'append' as const, sink: memorySink(), queryName: 'q', checkpointLocation: '/ckpt' }
    const task = taskDefinition(def, 1)
    expect(task.source).toBe(src.partition(1))
    expect(task.queryName).toBe('q[task 1]')
    expect(task.checkpointLocation).toMatch(/^\/ckpt\/tasks\/1$/)
    expect(task.task).toEqual({ task: 1, tasks: 2, source: 'Partitioned[2 × MemorySource[a]]' })
    const unnamed = taskDefinition({ ...def, queryName: undefined, checkpointLocation: undefined }, 0)
    expect([unnamed.queryName, unnamed.checkpointLocation]).toEqual([undefined, undefined])
  })
})
