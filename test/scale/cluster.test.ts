/**
 * Clusters in one process: members are sessions that start the same query with one cluster name over one shared
 * checkpoint directory and one memory coordinator. Real time with short TTLs; every assertion is about the output
 * and the owners, never about how long something took.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ClusterQuery,
  type Coordinator,
  count,
  createSession,
  groupBy,
  IncompatibleCheckpointError,
  InvalidQueryError,
  memoryCoordinator,
  memorySink,
  memorySource,
  type MemorySink,
  type MemorySource,
  partitionedSource,
  scaleOutOf,
  serveMonitoring,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { severable } from '../support/severableCoordinator.js'

const P = 8
const TTL = 1_500
const HEARTBEAT = 100

interface Click {
  readonly user: string
  readonly id: number
}

/** P memory partitions written the way partitionBy(user) writes them; rows are added while members run. */
function clickStream() {
  const parts: MemorySource<Click>[] = Array.from({ length: P }, () => memorySource<Click>())
  let next = 0
  const expected = new Map<string, number>()
  return {
    source: partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }),
    add(n: number) {
      const rows = Array.from({ length: n }, (): Click => ({ user: `u${next % 13}`, id: next++ }))
      for (const r of rows) expected.set(r.user, (expected.get(r.user) ?? 0) + 1)
      for (let p = 0; p < P; p++) parts[p]!.addData(rows.filter((r) => partitionOf(keyIdOf(r.user), P) === p))
    },
    expected: () => Object.fromEntries([...expected].sort()),
  }
}

type Stream = ReturnType<typeof clickStream>
const members: ClusterQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-cluster-'))
  dirs.push(dir)
  return dir
}

async function member(stream: Stream, sink: MemorySink<{ key: string; count: number }>, dir: string, coordinator: Coordinator, warnings: string[] = []) {
  const query = (await createSession({ warn: (m) => warnings.push(m) })
    .readStream(stream.source)
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation: dir, cluster: { name: 'clicks', coordinator, heartbeatMs: HEARTBEAT } })
    .start()) as ClusterQuery
  members.push(query)
  return query
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const countsOf = (sink: MemorySink<{ key: string; count: number }>) =>
  Object.fromEntries(sink.rows().map((r) => [r.key, r.count]).sort(([a], [b]) => String(a).localeCompare(String(b))))

/** Every task held by exactly one of `ms`, each holding its fair share (shares differ by at most one). */
function spreadEvenly(ms: readonly ClusterQuery[]): boolean {
  const held = ms.map((m) => m.runningTasks)
  const all = held.flat().sort((a, b) => a - b)
  const sizes = held.map((h) => h.length)
  return all.length === P && new Set(all).size === P && Math.max(...sizes) - Math.min(...sizes) <= 1
}

describe('a cluster of members shares the tasks of one query', () => {
  it('three members split eight tasks by fair shares and produce exactly the counts of the input', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const ms = [await member(stream, sink, dir, coordinator), await member(stream, sink, dir, coordinator), await member(stream, sink, dir, coordinator)]
    await until('the tasks are spread', () => spreadEvenly(ms))
    for (let round = 0; round < 5; round++) stream.add(200)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    expect(countsOf(sink)).toEqual(stream.expected())
    expect(ms.map((m) => m.runningTasks.length).sort()).toEqual([2, 3, 3])
    // Each member's view (as of its last heartbeat) comes to name every member and the owner of every task.
    const owners = () => Array.from({ length: P }, (_, p) => ms.find((m) => m.runningTasks.includes(p))!.member)
    for (const m of ms) {
      await until('the view is current', () => JSON.stringify(m.clusterView.tasks.map((task) => task.owner)) === JSON.stringify(owners()))
      expect(m.clusterView.members).toEqual(ms.map((x) => x.member).sort())
      expect(m.clusterView.tasks.every((task) => task.ownerLive && task.epoch !== undefined)).toBe(true)
    }
  })

  it('a member that joins is handed tasks, which continue from the state the other member committed', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const first = await member(stream, sink, dir, coordinator)
    await until('the first member runs every task', () => first.runningTasks.length === P)
    stream.add(500)
    await first.processAllAvailable()
    expect(countsOf(sink)).toEqual(stream.expected())
    const second = await member(stream, sink, dir, coordinator)
    await until('the tasks are shared', () => spreadEvenly([first, second]) && second.runningTasks.length === P / 2)
    stream.add(500)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    expect(countsOf(sink)).toEqual(stream.expected())
    // A moved task's commits carry the new owner's epoch, one above the first owner's (once the commits are durable).
    await Promise.all([first.processAllAvailable(), second.processAllAvailable()])
    const epochs = await Promise.all(second.runningTasks.map((p) => commitEpochs(dir, p)))
    for (const e of epochs) expect(e).toEqual([...e].sort((x, y) => x - y))
    expect(epochs.flat().filter((e) => e === 2).length).toBeGreaterThan(0)
    expect(new Set(epochs.flat())).toEqual(new Set([1, 2]))
  })

  it('a member that leaves hands its tasks back, and the others take all of them', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const [a, b] = [await member(stream, sink, dir, coordinator), await member(stream, sink, dir, coordinator)]
    await until('the tasks are shared', () => spreadEvenly([a, b]))
    stream.add(300)
    await b.stop()
    await until('the remaining member runs every task', () => a.runningTasks.length === P)
    stream.add(300)
    await a.processAllAvailable()
    expect(countsOf(sink)).toEqual(stream.expected())
  })

  it('a member cut off from the coordinator past its TTL loses its tasks to the others and is fenced', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const shared = memoryCoordinator({ ttlMs: TTL })
    const cut = severable(shared)
    const bWarnings: string[] = []
    const [a, b] = [await member(stream, sink, dir, shared), await member(stream, sink, dir, cut.coordinator, bWarnings)]
    await until('the tasks are shared', () => spreadEvenly([a, b]))
    stream.add(300)
    await until('the first rows are counted', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    const bTasks = b.runningTasks
    cut.sever()
    await until('the live member took every task over', () => a.runningTasks.length === P)
    // b's tasks still run (its renewals hang) but their leases are gone: their next commit is refused.
    stream.add(300)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    // Fenced where written: b's tasks that had rows to run were refused their log writes and stopped.
    expect(bWarnings.some((w) => /lost task \d+/.test(w))).toBe(true)
    await a.processAllAvailable()
    for (const p of bTasks) expect(Math.max(...(await commitEpochs(dir, p)))).toBeGreaterThan(1)
    // Reconnected, b finds its leases gone, stops those tasks and is handed its share again.
    cut.heal()
    await until('the tasks are shared again', () => spreadEvenly([a, b]))
    stream.add(300)
    await until('the counts are complete again', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    expect(countsOf(sink)).toEqual(stream.expected())
    expect(b.exception).toBeUndefined()
  })

  it('session.streams and the monitoring API show the members, every task with its owner and epoch, and the rates of the tasks run here', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const session = createSession({ warn: () => undefined })
    const start = (s: ReturnType<typeof createSession>) =>
      s.readStream(stream.source).pipe(groupBy((c: Click) => c.user, t.string), count())
        .writeStream({ outputMode: 'update', sink, queryName: 'clicks', checkpointLocation: dir, cluster: { name: 'clicks', coordinator, heartbeatMs: HEARTBEAT } })
        .start() as Promise<ClusterQuery>
    const a = await start(session)
    const b = await start(createSession({ warn: () => undefined }))
    members.push(a, b)
    stream.add(400)
    await until('the tasks are shared and their owners seen', () =>
      spreadEvenly([a, b]) && a.scaleOut.taskStatus.every((task) => (a.runningTasks.includes(task.task) ? a.member : b.member) === task.owner))
    await a.processAllAvailable()
    expect(session.streams.active).toEqual([a])
    const status = scaleOutOf(session.streams.active[0]!)!
    expect(status.tasks).toBe(P)
    expect(status.member).toBe(a.member)
    expect(status.members).toEqual([a.member, b.member].sort())
    for (const task of status.taskStatus) {
      expect(task.epoch).toBeGreaterThanOrEqual(1)
      // Progress is known for the tasks run here only.
      expect(task.lastBatchId === null).toBe(!a.runningTasks.includes(task.task))
    }
    const here = status.taskStatus.filter((task) => task.processedRowsPerSecond !== null)
    expect(status.aggregate.processedRowsPerSecond).toBeCloseTo(here.reduce((sum, task) => sum + task.processedRowsPerSecond!, 0))
    const server = await serveMonitoring(session, { port: 0 })
    try {
      const [listed] = (await (await fetch(new URL('api/queries', server.url))).json()) as { name: string; scaleOut: typeof status }[]
      expect(listed!.name).toBe('clicks')
      expect(listed!.scaleOut.members).toEqual(status.members)
      expect(listed!.scaleOut.taskStatus.map((task) => task.owner)).toEqual(a.scaleOut.taskStatus.map((task) => task.owner))
    } finally {
      await server.close()
    }
  })

  it('records the number of tasks, and refuses a member whose source has another number of partitions', async () => {
    const dir = await tempDir()
    const stream = clickStream()
    const sink = memorySink<{ key: string; count: number }>()
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    // Members of a new cluster starting at once all read the one count recorded first.
    const ms = await Promise.all([member(stream, sink, dir, coordinator), member(stream, sink, dir, coordinator)])
    await until('the tasks are spread', () => spreadEvenly(ms))
    stream.add(100)
    await until('the counts are complete', () => JSON.stringify(countsOf(sink)) === JSON.stringify(stream.expected()))
    await Promise.all(ms.map((m) => m.stop()))
    const fewer = partitionedSource([0, 1, 2, 3].map(() => memorySource<Click>().source), { by: 'stableKeyHash' })
    const restart = createSession()
      .readStream(fewer)
      .pipe(groupBy((c: Click) => c.user, t.string), count())
      .writeStream({ outputMode: 'update', sink, checkpointLocation: dir, cluster: { name: 'clicks', coordinator, heartbeatMs: HEARTBEAT } })
      .start()
    await expect(restart).rejects.toThrow(IncompatibleCheckpointError)
    await expect(restart).rejects.toThrow(/written by 8 tasks, but the source now has 4 partitions.*start on a new checkpoint location/s)
  })

  it('refuses a cluster without a checkpoint, with a bad name, or over an unpartitioned source', async () => {
    const coordinator = memoryCoordinator({ ttlMs: TTL })
    const stream = clickStream()
    const start = (source: typeof stream.source | ReturnType<typeof memorySource<Click>>['source'], name: string, checkpointLocation?: string) =>
      createSession()
        .readStream(source)
        .pipe(groupBy((c: Click) => c.user, t.string), count())
        .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation, cluster: { name, coordinator } })
        .start()
    await expect(start(stream.source, 'c')).rejects.toThrow(/needs a checkpointLocation that every member reads/)
    await expect(start(stream.source, 'a b', await tempDir())).rejects.toThrow(InvalidQueryError)
    await expect(start(memorySource<Click>().source, 'c', await tempDir())).rejects.toThrow(/need a partitioned source/)
  })
})

/** The lease epoch each commit of task p records, in batch order (a commit file's JSON body follows its version line). */
async function commitEpochs(dir: string, p: number): Promise<number[]> {
  const commits = join(dir, 'tasks', String(p), 'commits')
  const batches = (await readdir(commits)).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b)
  return Promise.all(batches.map(async (b) => {
    const text = await readFile(join(commits, String(b)), 'utf8')
    return (JSON.parse(text.slice(text.indexOf('{'))) as { epoch: number }).epoch
  }))
}
