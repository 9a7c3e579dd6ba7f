/**
 * Starting a query as tasks when something goes wrong: a task that cannot start, a checkpoint of another kind, a
 * query without a sink; and what a stopped query's status says.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  CheckpointCorruptedError,
  count,
  createSession,
  groupBy,
  IncompatibleCheckpointError,
  InvalidQueryError,
  jetStreamPartitions,
  map,
  memoryCoordinator,
  memorySink,
  memorySource,
  partitionedSource,
  repartition,
  type StreamingQuery,
} from '../../src/index.js'

const started: StreamingQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-tasks-start-'))
  dirs.push(dir)
  return dir
}

const twoParts = () => {
  const parts = [memorySource<number>({ name: 'p0' }), memorySource<number>({ name: 'p1' })]
  parts[0]!.addData([1, 2])
  parts[1]!.addData([3])
  return { parts, source: partitionedSource(parts.map((p) => p.source), { by: 'unknown' }) }
}

async function startTasksOn(checkpointLocation: string) {
  const sink = memorySink<number>()
  const query = await createSession()
    .readStream(twoParts().source)
    .pipe(map((n: number) => n * 10))
    .writeStream({ outputMode: 'append', sink, checkpointLocation })
    .start()
  started.push(query)
  return { query, sink }
}

describe('starting tasks', () => {
  it('when one task fails to start, start() rejects with its error and stops the tasks already started, releasing their checkpoints', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'tasks', '1'), { recursive: true })
    await writeFile(join(dir, 'tasks', '1', 'metadata'), 'not json')
    await expect(startTasksOn(dir)).rejects.toBeInstanceOf(CheckpointCorruptedError)
    // Task 0 started and was stopped: its checkpoint is free for the next start.
    await rm(join(dir, 'tasks', '1'), { recursive: true })
    const { query, sink } = await startTasksOn(dir)
    await query.processAllAvailable()
    expect(query.isActive).toBe(true)
    // Task 1 runs its batch now; task 0 may have committed its own before it was stopped.
    expect(sink.rows()).toContain(30)
  })

  it('a stopped query\'s status is exactly Stopped, with no data and no trigger', async () => {
    const { query } = await startTasksOn(await tempDir())
    await query.processAllAvailable()
    const tasks = (query as unknown as { tasks: StreamingQuery[] }).tasks
    await query.stop()
    for (const task of tasks) {
      expect(task.isActive).toBe(false)
      expect(task.status).toEqual({ message: 'Stopped', isDataAvailable: false, isTriggerActive: false })
    }
    expect(query.isActive).toBe(false)
    expect(query.status).toEqual({ message: '0 of 2 tasks active', isDataAvailable: false, isTriggerActive: false })
  })

  it('a query without a sink is refused with InvalidQueryError naming sink', async () => {
    const input = memorySource<number>()
    const start = createSession()
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: undefined as never })
      .start()
    await expect(start).rejects.toBeInstanceOf(InvalidQueryError)
    await expect(start).rejects.toThrow(new InvalidQueryError('writeStream: `sink` must be a sink such as memorySink(), foreachBatch(fn) or jsonFilesSink(dir)'))
  })
})

describe('a cluster member', () => {
  it('refuses a checkpoint that a query reading its source as one wrote', async () => {
    const dir = await tempDir()
    const one = memorySource<{ user: string }>()
    one.addData([{ user: 'a' }])
    const single = await createSession()
      .readStream(one.source)
      .pipe(groupBy((c: { user: string }) => c.user, t.string), count())
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: dir })
      .start()
    await single.processAllAvailable()
    await single.stop()
    const parts = [memorySource<{ user: string }>(), memorySource<{ user: string }>()]
    const member = createSession()
      .readStream(partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }))
      .pipe(groupBy((c: { user: string }) => c.user, t.string), count())
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: dir, cluster: { name: 'c1', coordinator: memoryCoordinator({ ttlMs: 1000 }), stopOnSignals: false } })
      .start()
    await expect(member).rejects.toBeInstanceOf(IncompatibleCheckpointError)
    await expect(member).rejects.toThrow(/written by a query that read its source as one.*read the source as one as before/s)
  })
})

describe('a repartitioned query in a cluster', () => {
  it('explain() lists every task of part one, comma-separated, then part two\'s plan', async () => {
    const parts = [memorySource<{ user: string }>(), memorySource<{ user: string }>()]
    const codec = t.type({ user: t.string })
    // A via nobody serves: the tasks cannot start, but the member's plan is known before they do.
    const via = jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 2, codec })
    const query = await createSession({ shufflePartitions: 4 })
      .readStream(partitionedSource(parts.map((p) => p.source), { by: 'unknown' }))
      .pipe(repartition((c: { user: string }) => c.user, t.string, { via }), groupBy((c: { user: string }) => c.user, t.string), count())
      .writeStream({
        outputMode: 'update', sink: memorySink(), checkpointLocation: await tempDir(),
        cluster: { name: 'rp', coordinator: memoryCoordinator({ ttlMs: 60_000 }), stopOnSignals: false },
      })
      .start()
    started.push(query)
    const text = query.explain(false)
    expect(text).toMatch(/^Runs as 4 tasks shared by the members of cluster rp \(here: [^)]*\); /)
    expect(text).toContain("; part one (repartition-task-0, repartition-task-1) writes every row into its key's partition of ")
    expect(text).toContain('; part two, each task:\n')
  })
})
