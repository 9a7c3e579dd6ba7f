/**
 * A repartitioned query in a cluster, with members in one process (sessions sharing a memory coordinator and a
 * checkpoint directory) over JSON files, repartitioned through a real redis-server: part one is one more leased task,
 * run by exactly one member; a member cut off from the coordinator past its TTL hands it over, fenced, and the new
 * owner resumes from part one's checkpoint. The result must equal the same query run in one process, and the
 * repartition stream must hold every input row exactly once.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ClusterQuery,
  type Coordinator,
  IncompatibleCheckpointError,
  count,
  createSession,
  groupBy,
  jsonFiles,
  memoryCoordinator,
  memorySource,
  partitionedSource,
  memorySink,
  type MemorySink,
  redisStreamPartitions,
  repartition,
  scaleOutOf,
  type StreamingQuery,
  trigger,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { useServer } from '../support/servers/managed.js'
import { startRedis } from '../support/servers/redis.js'
import { severable } from '../support/severableCoordinator.js'

const Row = t.type({ id: t.number, user: t.string })
type Row = t.TypeOf<typeof Row>
const P = 3
/** Part one's task comes after part two's P tasks. */
const PART_ONE = P
const TTL = 1_500
const HEARTBEAT = 100

const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })
const queries: StreamingQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(queries.splice(0).map((q) => q.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** A directory of JSON-line files, not partitioned by anything; files are added while members run. */
async function inputFiles() {
  const root = await mkdtemp(join(tmpdir(), 'srx-repartition-cluster-'))
  dirs.push(root)
  const dir = join(root, 'input')
  await mkdir(dir)
  const rows: Row[] = []
  let files = 0
  return {
    root,
    dir,
    rows,
    async add(n: number, perFile = 40) {
      for (let f = 0; f < n; f++) {
        const batch = Array.from({ length: perFile }, (_, i): Row => ({ id: rows.length + i, user: `u${(rows.length + i) % 11}` }))
        rows.push(...batch)
        const name = `part-${String(files++).padStart(4, '0')}.json`
        await writeFile(join(dir, `.${name}`), batch.map((r) => JSON.stringify(r)).join('\n') + '\n')
        await rename(join(dir, `.${name}`), join(dir, name))
      }
    },
    /** The count per user of every row added so far. */
    expected: () => countByUser(rows),
  }
}

function countByUser(rows: readonly Row[]): Record<string, number> {
  const counts = new Map<string, number>()
  for (const r of rows) counts.set(r.user, (counts.get(r.user) ?? 0) + 1)
  return Object.fromEntries([...counts].sort(([x], [y]) => x.localeCompare(y)))
}
type Input = Awaited<ReturnType<typeof inputFiles>>

let n = 0
const viaKey = () => `rc${++n}`

/** The repartitioned count per user, started in a session of its own; `cluster` makes it a member. */
async function countPerUser(input: Input, key: string, sink: MemorySink<{ key: string; count: number }>, checkpoint: string, options: object, warnings: string[] = []) {
  const via = redisStreamPartitions({ url: redis.server.url, key, partitions: P, codec: Row, maxEntriesPerTrigger: 25 })
  const query = await createSession({ warn: (m) => warnings.push(m) })
    .readStream(jsonFiles(input.dir, { codec: Row, maxFilesPerTrigger: 1 }))
    .pipe(repartition((r: Row) => r.user, t.string, { via }), groupBy((r: Row) => r.user, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation: checkpoint, ...options })
    .start()
  queries.push(query)
  return query
}

const member = (input: Input, key: string, sink: MemorySink<{ key: string; count: number }>, coordinator: Coordinator, warnings?: string[]) =>
  countPerUser(input, key, sink, join(input.root, 'checkpoint'), { cluster: { name: 'rc', coordinator, heartbeatMs: HEARTBEAT } }, warnings) as Promise<ClusterQuery>

const countsOf = (sink: MemorySink<{ key: string; count: number }>) =>
  Object.fromEntries(sink.rows().map((r) => [r.key, r.count]).sort(([a], [b]) => String(a).localeCompare(String(b))))

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Every row of the repartition stream `key`: its id, and whether it is in its key's partition. */
async function repartitioned(key: string): Promise<{ ids: number[]; misplaced: number }> {
  const ids: number[] = []
  let misplaced = 0
  for (let p = 0; p < P; p++) {
    for (const [, fields] of await redis.client.xrange(`${key}:${p}`, '-', '+')) {
      // One entry per row, its JSON in the field `value`.
      const row = JSON.parse(fields[1]!) as Row
      ids.push(row.id)
      if (partitionOf(keyIdOf(row.user), P) !== p) misplaced++
    }
  }
  return { ids: ids.sort((a, b) => a - b), misplaced }
}

/** Every task held by exactly one of `ms`. */
const covered = (ms: readonly ClusterQuery[], tasks = P + 1) => {
  const all = ms.flatMap((m) => m.runningTasks)
  return all.length === tasks && new Set(all).size === tasks
}

describe('a repartitioned query in a cluster', () => {
  it('over a partitioned input, leases part one as one task per input partition and counts every row exactly once', async () => {
    const inputs = [memorySource<Row>(), memorySource<Row>()]
    const rows = Array.from({ length: 300 }, (_, id): Row => ({ id, user: `u${id % 7}` }))
    const expected = countByUser(rows)
    const root = await mkdtemp(join(tmpdir(), 'srx-repartition-cluster-'))
    dirs.push(root)
    const key = viaKey()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const start = async () => {
      const via = redisStreamPartitions({ url: redis.server.url, key, partitions: P, codec: Row })
      const query = (await createSession()
        .readStream(partitionedSource(inputs.map((i) => i.source), { by: 'unknown' }))
        .pipe(repartition((r: Row) => r.user, t.string, { via }), groupBy((r: Row) => r.user, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: root, cluster: { name: 'rc', coordinator, heartbeatMs: HEARTBEAT } })
        .start()) as ClusterQuery
      queries.push(query)
      return query
    }
    const ms = [await start(), await start()]
    await until('the tasks are spread', () => covered(ms, P + inputs.length) && ms.every((m) => m.runningTasks.length >= 2))
    expect(ms[0]!.clusterView.tasks.map((task) => task.name)).toEqual(['task-0', 'task-1', 'task-2', 'repartition-task-0', 'repartition-task-1'])
    rows.forEach((r, i) => inputs[i % inputs.length]!.addData([r]))
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(expected))
    const { ids, misplaced } = await repartitioned(key)
    expect({ ids, misplaced }).toEqual({ ids: rows.map((r) => r.id), misplaced: 0 })
  }, 120_000)

  it('refuses to run part one as tasks over a checkpoint where it read its input as one source', async () => {
    const root = await mkdtemp(join(tmpdir(), 'srx-repartition-cluster-'))
    dirs.push(root)
    const key = viaKey()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const one = memorySource<Row>()
    const parts = [memorySource<Row>(), memorySource<Row>()]
    const start = (partitioned: boolean) => {
      const via = redisStreamPartitions({ url: redis.server.url, key, partitions: P, codec: Row })
      const session = createSession()
      return (partitioned ? session.readStream(partitionedSource(parts.map((p) => p.source), { by: 'unknown' })) : session.readStream(one.source))
        .pipe(repartition((r: Row) => r.user, t.string, { via }), groupBy((r: Row) => r.user, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: root, cluster: { name: 'rc', coordinator, heartbeatMs: HEARTBEAT } })
        .start() as Promise<ClusterQuery>
    }
    const rows = Array.from({ length: 30 }, (_, id): Row => ({ id, user: `u${id % 5}` }))
    const first = await start(false)
    queries.push(first)
    one.addData(rows)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(countByUser(rows)))
    await first.stop()
    await expect(start(true)).rejects.toThrow(IncompatibleCheckpointError)
  }, 120_000)

  it('leases part one to exactly one member and gives exactly the result of the query run in one process', async () => {
    const input = await inputFiles()
    await input.add(20)
    const alone = memorySink<{ key: string; count: number }>()
    const single = await countPerUser(input, viaKey(), alone, join(input.root, 'alone'), { trigger: trigger.availableNow() })
    await single.awaitTermination()
    expect(countsOf(alone)).toEqual(input.expected())

    const key = viaKey()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const ms = [await member(input, key, sink, coordinator), await member(input, key, sink, coordinator), await member(input, key, sink, coordinator)]
    await until('the tasks are spread', () => covered(ms) && ms.every((m) => m.runningTasks.length > 0))
    expect(ms.filter((m) => m.runningTasks.includes(PART_ONE))).toHaveLength(1)
    expect(ms[0]!.clusterView.tasks.map((task) => task.name)).toEqual(['task-0', 'task-1', 'task-2', 'repartition'])
    expect(scaleOutOf(ms[0]!)!.taskStatus.map((task) => task.name)).toEqual(['task-0', 'task-1', 'task-2', 'repartition'])
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(input.expected()))
    expect(countsOf(sink)).toEqual(countsOf(alone))
    const { ids, misplaced } = await repartitioned(key)
    expect({ ids, misplaced }).toEqual({ ids: input.rows.map((r) => r.id), misplaced: 0 })
  }, 120_000)

  it('a member that holds part one, cut off past its TTL, is fenced; another member resumes part one from its checkpoint exactly once', async () => {
    const input = await inputFiles()
    await input.add(10)
    const key = viaKey()
    const sink = memorySink<{ key: string; count: number }>()
    const shared = memoryCoordinator({ ttlMs: TTL })
    const cuts = [severable(shared), severable(shared)]
    const warnings: string[][] = [[], []]
    const ms = [await member(input, key, sink, cuts[0]!.coordinator, warnings[0]), await member(input, key, sink, cuts[1]!.coordinator, warnings[1])]
    await until('the tasks are shared', () => covered(ms) && ms.every((m) => m.runningTasks.length > 0))
    const owner = ms.findIndex((m) => m.runningTasks.includes(PART_ONE))
    const [a, b, cut] = [ms[owner]!, ms[1 - owner]!, cuts[owner]!]
    await until('part one has written some rows', async () => (await repartitioned(key)).ids.length > 0)
    cut.sever()
    await until('the live member took part one over', () => b.runningTasks.length === P + 1)
    // Files for the new owner; the cut-off member's part one, still running, is refused its next log write.
    await input.add(30)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(input.expected()))
    const { ids, misplaced } = await repartitioned(key)
    expect({ lost: input.rows.length - new Set(ids).size, duplicated: ids.length - new Set(ids).size, misplaced }).toEqual({ lost: 0, duplicated: 0, misplaced: 0 })
    expect(ids).toEqual(input.rows.map((r) => r.id))
    // Part one's commits carry the epochs of both owners, in order: the second took it with the epoch raised.
    const epochs = await commitEpochs(join(input.root, 'checkpoint', 'repartition'))
    expect(epochs).toEqual([...epochs].sort((x, y) => x - y))
    expect(new Set(epochs).size).toBeGreaterThan(1)
    // Reconnected, the first member finds its leases gone and stops those tasks without committing.
    cut.heal()
    await until('the cut-off member reports its lost part one', () => warnings[owner]!.some((w) => /lost repartition \(epoch \d+\)/.test(w)))
    expect(a.exception).toBeUndefined()
  }, 120_000)
})

/** The lease epoch each commit of a checkpoint records, in batch order. */
async function commitEpochs(location: string): Promise<number[]> {
  const commits = join(location, 'commits')
  const batches = (await readdir(commits)).filter((f) => /^\d+$/.test(f)).map(Number).sort((x, y) => x - y)
  return Promise.all(batches.map(async (b) => {
    const text = await readFile(join(commits, String(b)), 'utf8')
    return (JSON.parse(text.slice(text.indexOf('{'))) as { epoch: number }).epoch
  }))
}
