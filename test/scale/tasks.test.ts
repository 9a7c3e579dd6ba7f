import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  IncompatibleCheckpointError,
  filter,
  groupBy,
  map,
  memorySink,
  memorySource,
  partitionedSource,
  PartitioningMismatchError,
  scaleOutOf,
  type MemorySource,
  type PartitionedSource,
  type Source,
  type StreamingQuery,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'

interface Click {
  readonly user: string
  readonly n: number
}

/** P memory sources, each holding the clicks whose user hashes to it (what `partitionBy(user)` writes). */
function partitionedClicks(partitions: number, clicks: readonly Click[], by: 'stableKeyHash' | 'unknown' = 'stableKeyHash') {
  const parts: MemorySource<Click>[] = Array.from({ length: partitions }, () => memorySource<Click>())
  parts.forEach((part, p) => part.addData(clicks.filter((c) => partitionOf(keyIdOf(c.user), partitions) === p)))
  return partitionedSource(parts.map((p) => p.source), { by })
}

const started: StreamingQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function countsOf(source: Source<Click> | PartitionedSource<Click>, checkpointLocation?: string) {
  const sink = memorySink<{ key: string; count: number }>()
  const query = await createSession()
    .readStream(source)
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation })
    .start()
  started.push(query)
  await query.processAllAvailable()
  return { sink, query }
}

const byKey = (rows: readonly { key: string; count: number }[]) => [...rows].sort((a, b) => a.key.localeCompare(b.key))

describe('a query over a partitioned source runs as tasks', () => {
  it('P tasks give exactly the result of one query over all the rows', async () => {
    const click = fc.record({ user: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), n: fc.integer() })
    await fc.assert(
      fc.asyncProperty(fc.array(click, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), async (clicks, partitions) => {
        const whole = memorySource<Click>()
        whole.addData(clicks)
        const expected = await countsOf(whole.source)
        const tasks = await countsOf(partitionedClicks(partitions, clicks))
        expect(byKey(tasks.sink.rows())).toEqual(byKey(expected.sink.rows()))
      }),
      { numRuns: 40 },
    )
  })

  it('reports every task with its last batch and the sum of their rates as the query\'s aggregate', async () => {
    const clicks = [...'abcdefgh'].map((user, n) => ({ user, n }))
    const { query } = await countsOf(partitionedClicks(3, clicks))
    const status = scaleOutOf(query)!
    expect(status.tasks).toBe(3)
    expect(status.taskStatus.map((task) => [task.task, task.owner, task.lastBatchId])).toEqual([[0, 'local', 0], [1, 'local', 0], [2, 'local', 0]])
    expect(status.aggregate.numInputRows).toBe(clicks.length)
    expect(status.aggregate.processedRowsPerSecond).toBeCloseTo(status.taskStatus.reduce((sum, task) => sum + task.processedRowsPerSecond!, 0))
  })

  it('each task checkpoints under tasks/<p> with its own batch ids, and a restart resumes every task', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-tasks-'))
    dirs.push(dir)
    const clicks = [...'abcdefgh'].map((user, n) => ({ user, n }))
    const first = await countsOf(partitionedClicks(3, clicks), dir)
    await first.query.stop()
    expect((await readdir(join(dir, 'tasks'))).sort()).toEqual(['0', '1', '2', 'metadata'])
    for (const p of ['0', '1', '2']) expect(await readdir(join(dir, 'tasks', p, 'commits'))).toEqual(['0'])
    const again = await countsOf(partitionedClicks(3, [...clicks, { user: 'a', n: 99 }]), dir)
    expect(again.sink.rows()).toEqual([{ key: 'a', count: 2 }])
  })

  it('a stateless query over a source partitioned in any way runs as tasks too', async () => {
    const parts = [memorySource<Click>(), memorySource<Click>()]
    parts[0]!.addData([{ user: 'a', n: 1 }, { user: 'b', n: 2 }])
    parts[1]!.addData([{ user: 'a', n: 3 }])
    const sink = memorySink<number>()
    const query = await createSession()
      .readStream(partitionedSource(parts.map((p) => p.source), { by: 'unknown' }))
      .pipe(filter((c) => c.n > 1), map((c) => c.n))
      .writeStream({ outputMode: 'append', sink })
      .start()
    started.push(query)
    await query.processAllAvailable()
    expect(sink.rows().sort()).toEqual([2, 3])
  })
})

describe('start() checks the source is partitioned by the stateful key', () => {
  it('refuses a stateful query over a source not partitioned by key, saying what to do', async () => {
    const start = countsOf(partitionedClicks(2, [], 'unknown'))
    await expect(start).rejects.toThrow(PartitioningMismatchError)
    await expect(start).rejects.toThrow(/partitionBy of the grouping key/)
  })

  it('fails the query when a row sits in a partition its key does not hash to', async () => {
    const parts = [memorySource<Click>(), memorySource<Click>()]
    const misplaced = ['a', 'b', 'c', 'd'].find((u) => partitionOf(keyIdOf(u), 2) === 1)!
    parts[0]!.addData([{ user: misplaced, n: 1 }])
    await expect(countsOf(partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }))).rejects.toThrow()
    await expect(started.at(-1)!.awaitTermination()).rejects.toThrow(
      new RegExp(
        `task 0 of 2 read key "${misplaced}" of operator \\w+ from partition 0 of .*, but the key's stable hash puts it in partition 1: ` +
          "the source is not partitioned by this operator's key\\. Write it with partitionBy of the same key \\(the engine's stable key " +
          'hash\\), or read it as one unpartitioned source\\.',
      ),
    )
  })
})

describe('a checkpoint of tasks keeps its number of tasks', () => {
  const clicks = [...'abcdefgh'].map((user, n) => ({ user, n }))
  const checkpoint = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-tasks-'))
    dirs.push(dir)
    return dir
  }

  it('refuses a source with another number of partitions, naming both counts', async () => {
    const dir = await checkpoint()
    await (await countsOf(partitionedClicks(2, clicks), dir)).query.stop()
    const start = countsOf(partitionedClicks(3, clicks), dir)
    await expect(start).rejects.toBeInstanceOf(IncompatibleCheckpointError)
    await expect(start).rejects.toThrow(/written by 2 tasks, but the source now has 3 partitions.*start on a new checkpoint location/s)
  })

  it('refuses to run as tasks over a checkpoint written by one query, and as one query over one written by tasks', async () => {
    const single = await checkpoint()
    const all = memorySource<Click>()
    all.addData(clicks)
    await (await countsOf(all.source, single)).query.stop()
    const asTasks = countsOf(partitionedClicks(2, clicks), single)
    await expect(asTasks).rejects.toBeInstanceOf(IncompatibleCheckpointError)
    await expect(asTasks).rejects.toThrow(/written by a query that read its source as one.*read the source as one as before/s)

    const ofTasks = await checkpoint()
    await (await countsOf(partitionedClicks(2, clicks), ofTasks)).query.stop()
    const asOne = countsOf(all.source, ofTasks)
    await expect(asOne).rejects.toBeInstanceOf(IncompatibleCheckpointError)
    await expect(asOne).rejects.toThrow(/written by a query that ran as tasks.*read it as a PartitionedSource as before/s)
  })

  it('starts a checkpoint written before the count was stored, and records the count then', async () => {
    const dir = await checkpoint()
    await (await countsOf(partitionedClicks(2, clicks), dir)).query.stop()
    await rm(join(dir, 'tasks', 'metadata'))
    const again = await countsOf(partitionedClicks(2, [...clicks, { user: 'a', n: 99 }]), dir)
    expect(again.sink.rows()).toEqual([{ key: 'a', count: 2 }])
    await again.query.stop()
    await expect(countsOf(partitionedClicks(3, clicks), dir)).rejects.toThrow(/written by 2 tasks/)
  })
})
