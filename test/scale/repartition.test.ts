/**
 * `repartition(keyOf, keyCodec, { via })` over a real nats-server and redis-server: a query over input that is not
 * partitioned by key gives exactly the result of the same query without repartition, run as one query (a law checked
 * over random inputs, for a table of queries), and starts, stops and fails as one query.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  dropDuplicates,
  filter,
  groupBy,
  InvalidQueryError,
  jetStream,
  jetStreamPartitions,
  map,
  memoryCoordinator,
  memorySink,
  memorySource,
  type Operator,
  type OutputMode,
  QueryModuleError,
  redisStreamPartitions,
  repartition,
  type RepartitionVia,
  scaleOutOf,
  type StreamingQuery,
  sum,
  trigger,
  withWatermark,
} from '../../src/index.js'
import { keyIdOf, partitionOf, stableStringify } from '../../src/util/keys.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { startRedis } from '../support/servers/redis.js'
import { repartitionedCounts } from './fixtures/repartitionedCounts.js'

const Click = t.type({ user: t.string, page: t.string, n: t.number, ts: t.number })
type Click = t.TypeOf<typeof Click>
const user = (c: Click) => c.user

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })
const started: StreamingQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'srx-repartition-'))
  dirs.push(dir)
  return dir
}

let n = 0
/** A fresh partitioned JetStream stream to repartition through. */
async function jetStreamVia(partitions: number): Promise<RepartitionVia<Click>> {
  const i = ++n
  await nats.client.addStream(`RP${i}`, [`rp${i}.*`])
  return jetStreamPartitions({ servers: nats.server.url, stream: `RP${i}`, subject: `rp${i}`, partitions, codec: Click })
}
const redisVia = (partitions: number): RepartitionVia<Click> =>
  redisStreamPartitions({ url: redis.server.url, key: `rp${++n}`, partitions, codec: Click })

/** The queries of the law: the chain after the input, with and without `repartition` by user before it. */
interface Case {
  readonly name: string
  readonly outputMode: OutputMode
  /** Operators before repartition (stateless) and after it. */
  readonly before: readonly Operator<Click, Click>[]
  readonly after: readonly Operator<never, unknown>[]
}
const cases: Case[] = [
  { name: 'count per user (update)', outputMode: 'update', before: [], after: [groupBy(user, t.string), count()] as never },
  {
    name: 'filter and map before, sum after (complete)',
    outputMode: 'complete',
    before: [filter((c: Click) => c.n % 3 !== 0), map((c: Click) => ({ ...c, n: c.n * 2 }))],
    after: [groupBy(user, t.string), sum((c: Click) => c.n)] as never,
  },
  { name: 'first click per user (dropDuplicates, append)', outputMode: 'append', before: [], after: [dropDuplicates(user, t.string)] as never },
  {
    name: 'windowed count per user with a watermark (update)',
    outputMode: 'update',
    before: [],
    after: [withWatermark((c: Click) => c.ts, 1000), groupBy(user, t.string, { window: { time: (c: Click) => c.ts, size: 500 } }), count()] as never,
  },
]

/** The result table of a query, in a canonical order. */
const table = (rows: readonly unknown[]) => rows.map((r) => stableStringify(r)).sort()

async function runToEnd(rows: readonly Click[], c: Case, via?: RepartitionVia<Click>): Promise<string[]> {
  const input = memorySource<Click>()
  input.addData(rows)
  const sink = memorySink()
  const ops = via === undefined ? [...c.before, ...c.after] : [...c.before, repartition(user, t.string, { via }), ...c.after]
  const stream = (createSession().readStream(input.source) as unknown as { pipe(...o: unknown[]): { writeStream: (o: object) => { start(): Promise<StreamingQuery> } } }).pipe(...ops)
  const query = await stream.writeStream({ outputMode: c.outputMode, sink, checkpointLocation: await tempDir(), trigger: trigger.availableNow() }).start()
  started.push(query)
  await query.awaitTermination()
  return table(sink.rows())
}

const click = fc.record({
  user: fc.constantFrom('ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy'),
  page: fc.constantFrom('/', '/a', '/b'),
  n: fc.integer({ min: 0, max: 20 }),
  ts: fc.integer({ min: 0, max: 4000 }),
})

describe('repartition gives exactly the result of the query run as one', () => {
  it.each(cases)('$name, through JetStream partitions', async (c) => {
    await fc.assert(
      fc.asyncProperty(fc.array(click, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), async (rows, partitions) => {
        expect(await runToEnd(rows, c, await jetStreamVia(partitions))).toEqual(await runToEnd(rows, c))
      }),
      { numRuns: 8 },
    )
  })

  it('count per user, through Redis stream partitions', async () => {
    const c = cases[0]!
    await fc.assert(
      fc.asyncProperty(fc.array(click, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), async (rows, partitions) => {
        expect(await runToEnd(rows, c, redisVia(partitions))).toEqual(await runToEnd(rows, c))
      }),
      { numRuns: 8 },
    )
  })
})

describe('a repartitioned query', () => {
  it('writes every row once into its key partition and runs the rest as one task per partition, over input added in two rounds', async () => {
    const via = await jetStreamVia(3)
    const input = memorySource<Click>()
    const sink = memorySink<{ key: string; count: number }>()
    const ckpt = await tempDir()
    const session = createSession()
    const query = await session
      .readStream(input.source)
      .pipe(repartition(user, t.string, { via }), groupBy(user, t.string), count())
      .writeStream({ outputMode: 'update', sink, checkpointLocation: ckpt, queryName: 'clicks' })
      .start()
    started.push(query)
    const clicks = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ user: `u${(from + i) % 5}`, page: '/', n: from + i, ts: 0 }))
    input.addData(clicks(0, 30))
    await query.processAllAvailable()
    input.addData(clicks(30, 50))
    await query.processAllAvailable()
    expect(Object.fromEntries(sink.rows().map((r) => [r.key, r.count]))).toEqual({ u0: 10, u1: 10, u2: 10, u3: 10, u4: 10 })
    expect(scaleOutOf(query)?.tasks).toBe(3)
    const names = new Set(query.recentProgress.map((p) => p.name))
    expect(names.has('clicks[repartition]')).toBe(true)
    expect([...names].filter((name) => name?.startsWith('clicks[task '))).not.toHaveLength(0)
    const messages = await nats.client.read(`RP${n}`, `rp${n}.*`)
    expect(messages.map((m) => (JSON.parse(m.text) as Click).n).sort((a, b) => a - b)).toEqual(clicks(0, 50).map((c) => c.n))
    for (const m of messages) expect(m.subject).toBe(`rp${n}.${partitionOf(keyIdOf((JSON.parse(m.text) as Click).user), 3)}`)
    expect((await readdir(ckpt)).sort()).toEqual(['repartition', 'tasks'])
    expect(session.streams.active).toEqual([query])
    await query.stop()
    expect(query.isActive).toBe(false)
    expect(session.streams.active).toHaveLength(0)
  })

  it('is one query for the session: started and terminated once, active until both parts stopped', async () => {
    const session = createSession()
    const events: string[] = []
    session.streams.addListener({ onQueryStarted: (e) => void events.push(`started ${e.name}`), onQueryTerminated: () => void events.push('terminated') })
    const input = memorySource<Click>()
    const query = await session
      .readStream(input.source)
      .pipe(repartition(user, t.string, { via: await jetStreamVia(2) }), groupBy(user, t.string), count())
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: await tempDir(), queryName: 'once' })
      .start()
    expect(session.streams.active).toEqual([query])
    await query.stop()
    expect(await query.awaitTermination(10_000)).toBe(true)
    await session.stop()
    expect(events).toEqual(['started once', 'terminated'])
  })

  it('restarts from its checkpoint: neither part reads again what it already processed', async () => {
    const via = await jetStreamVia(2)
    const ckpt = await tempDir()
    const input = memorySource<Click>()
    const run = async () => {
      const sink = memorySink<{ key: string; count: number }>()
      const query = await createSession()
        .readStream(input.source)
        .pipe(repartition(user, t.string, { via }), groupBy(user, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: ckpt, trigger: trigger.availableNow() })
        .start()
      await query.awaitTermination()
      return Object.fromEntries(sink.rows().map((r) => [r.key, r.count]))
    }
    input.addData([{ user: 'a', page: '/', n: 1, ts: 0 }, { user: 'b', page: '/', n: 2, ts: 0 }])
    expect(await run()).toEqual({ a: 1, b: 1 })
    input.addData([{ user: 'a', page: '/', n: 3, ts: 0 }])
    expect(await run()).toEqual({ a: 2 })
  })

  it('fails as one query when a task fails, stopping part one', async () => {
    const input = memorySource<Click>()
    const query = await createSession()
      .readStream(input.source)
      .pipe(repartition(user, t.string, { via: await jetStreamVia(2) }), map((c: Click) => {
        if (c.n === 13) throw new Error('unlucky click')
        return c
      }))
      .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: await tempDir() })
      .start()
    input.addData([{ user: 'a', page: '/', n: 13, ts: 0 }])
    await expect(query.awaitTermination()).rejects.toThrow(/unlucky click/)
    expect(query.isActive).toBe(false)
  })
})

describe('a repartitioned query on worker threads', () => {
  it('runs part two as tasks on 2 workers with exactly the counts of one thread and of the input', async () => {
    const clicks = Array.from({ length: 300 }, (_, i) => ({ user: `u${(i * 7) % 11}`, n: i }))
    const input = await tempDir()
    await writeFile(join(input, 'clicks.jsonl'), clicks.map((c) => JSON.stringify(c)).join('\n') + '\n')
    const countsOn = async (parallelism: number) => {
      const i = ++n
      await nats.client.addStream(`RW${i}`, [`rw${i}.>`])
      const query = await repartitionedCounts.start({
        input, natsUrl: nats.server.url, stream: `RW${i}`, via: `rw${i}.by-user`, output: `rw${i}.counts`, partitions: 4,
        checkpoint: join(await tempDir(), 'ckpt'), parallelism,
      })
      try {
        await query.processAllAvailable()
        if (parallelism > 1) expect(new Set(scaleOutOf(query)!.taskStatus.map((task) => task.owner))).toEqual(new Set(['worker-0', 'worker-1']))
      } finally {
        await query.stop()
      }
      const counts = new Map<string, number>()
      for (const m of await nats.client.read(`RW${i}`, `rw${i}.counts`)) {
        const row = JSON.parse(m.text) as { key: string; count: number }
        counts.set(row.key, Math.max(counts.get(row.key) ?? 0, row.count))
      }
      return Object.fromEntries([...counts].sort())
    }
    const expected = new Map<string, number>()
    for (const c of clicks) expected.set(c.user, (expected.get(c.user) ?? 0) + 1)
    const onWorkers = await countsOn(2)
    expect(onWorkers).toEqual(Object.fromEntries([...expected].sort()))
    expect(onWorkers).toEqual(await countsOn(1))
  }, 120_000)
})

describe('start() refuses a repartition it cannot run', () => {
  const input = () => memorySource<Click>().source
  const start = async (ops: readonly unknown[], options: object = {}) =>
    (createSession().readStream(input()) as unknown as { pipe(...o: unknown[]): { writeStream: (o: object) => { start(): Promise<StreamingQuery> } } })
      .pipe(...ops)
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: await tempDir(), ...options })
      .start()
  const via = () => jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 2, codec: Click })

  it('via that is not a partitioned stream', async () => {
    const source = jetStream({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', codec: Click })
    const refused = start([repartition(user, t.string, { via: source as never }), groupBy(user, t.string), count()])
    await expect(refused).rejects.toBeInstanceOf(InvalidQueryError)
    await expect(refused).rejects.toThrow(/repartition #1: via must be a partitioned stream .* got JetStream\[S\/s\]/)
  })
  it('repartition used twice', async () => {
    await expect(start([repartition(user, t.string, { via: via() }), repartition(user, t.string, { via: via() }), groupBy(user, t.string), count()])).rejects.toThrow(
      /repartition #2: a query repartitions at most once \(the first is repartition #1\)/,
    )
  })
  it('a stateful operator or a watermark before it', async () => {
    await expect(start([withWatermark((c: Click) => c.ts, 10), repartition(user, t.string, { via: via() }), groupBy(user, t.string), count()])).rejects.toThrow(
      /withWatermark #1 comes before repartition #2: only map, filter and flatMap may/,
    )
  })
  it('no checkpoint location', async () => {
    await expect(start([repartition(user, t.string, { via: via() }), groupBy(user, t.string), count()], { checkpointLocation: undefined })).rejects.toThrow(
      /repartition #1 needs a checkpointLocation/,
    )
  })
  it('worker threads for a query not defined in a module', async () => {
    await expect(start([repartition(user, t.string, { via: via() }), groupBy(user, t.string), count()], { parallelism: 2 })).rejects.toBeInstanceOf(
      QueryModuleError,
    )
  })
  it('a cluster with worker threads, saying to run more members instead', async () => {
    const cluster = { name: 'c', coordinator: memoryCoordinator({ ttlMs: 1000 }) }
    await expect(start([repartition(user, t.string, { via: via() }), groupBy(user, t.string), count()], { cluster, parallelism: 2 })).rejects.toThrow(
      /cluster 'c' runs one task loop per member; run more members instead of parallelism 2/,
    )
  })
  it('a partition count that is not a positive integer', () => {
    expect(() => jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 0, codec: Click })).toThrow(/positive integer/)
  })
})
