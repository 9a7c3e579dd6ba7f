/**
 * A partitioned jetStream / redisStream with `partitionedBy` is a PartitionedSource: a query over it runs as one task
 * per partition subject or key, on real nats-server and redis-server. Without `partitionedBy` it stays one source,
 * with the checkpoint it always wrote.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  filter,
  groupBy,
  IncompatibleCheckpointError,
  isPartitioned,
  jetStream,
  memorySink,
  PartitioningMismatchError,
  redisStream,
  scaleOutOf,
  trigger,
  type Partitioning,
  type PartitionedSource,
  type Source,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { startRedis } from '../support/servers/redis.js'
import { natsTestClient } from './natsHelpers.js'

const Row = t.type({ id: t.number, key: t.string })
type Row = t.TypeOf<typeof Row>
const P = 3

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'srx-partitioned-connector-'))
  dirs.push(dir)
  return dir
}

const rowsFrom = (from: number, to: number): Row[] => Array.from({ length: to - from }, (_, i) => ({ id: from + i, key: `k${(from + i) % 7}` }))
/** The partition `partitionBy` of the key puts a row in. */
const home = (row: Row) => partitionOf(keyIdOf(row.key), P)

/** One broker's partitioned log under test: a fresh place per test, a way to append rows and the connector over it. */
interface Log {
  append(partition: number, rows: readonly Row[]): Promise<void>
  source(by?: Partitioning['by']): Source<Row> | PartitionedSource<Row>
}

let n = 0
const brokers: { name: string; fresh(): Promise<Log> }[] = [
  {
    name: 'jetStream',
    async fresh() {
      const i = ++n
      await nats.client.addStream(`PC${i}`, [`pc${i}.*`])
      return {
        append: async (p, rows) => void (await nats.client.publish(`pc${i}.${p}`, rows)),
        source: (by) => jetStream({ servers: nats.server.url, stream: `PC${i}`, subject: `pc${i}`, partitions: P, codec: Row, partitionedBy: by }),
      }
    },
  },
  {
    name: 'redisStream',
    async fresh() {
      const key = `pc${++n}`
      return {
        async append(p, rows) {
          const pipe = redis.client.pipeline()
          for (const r of rows) pipe.xadd(`${key}:${p}`, '*', 'value', JSON.stringify(r))
          await pipe.exec()
        },
        source: (by) => redisStream({ url: redis.server.url, key, partitions: P, codec: Row, partitionedBy: by }),
      }
    },
  },
]

/** Appends rows where `partitionBy` of their key would put them. */
async function appendByKey(log: Log, rows: readonly Row[]): Promise<void> {
  for (let p = 0; p < P; p++) await log.append(p, rows.filter((r) => home(r) === p))
}

async function countsOnce(source: Source<Row> | PartitionedSource<Row>, checkpointLocation?: string) {
  const sink = memorySink<{ key: string; count: number }>()
  const query = await createSession()
    .readStream(source)
    .pipe(groupBy((r: Row) => r.key, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation, trigger: trigger.availableNow() })
    .start()
  await query.awaitTermination()
  return { query, counts: Object.fromEntries(sink.rows().map((r) => [r.key, r.count])) }
}

describe.each(brokers)('a partitioned $name', ({ fresh }) => {
  it("with partitionedBy 'stableKeyHash' runs a stateful query as one task per partition, with the result of one source", async () => {
    const log = await fresh()
    await appendByKey(log, rowsFrom(0, 200))
    const source = log.source('stableKeyHash')
    expect(isPartitioned(source)).toBe(true)
    const ckpt = await tempDir()
    const tasks = await countsOnce(source, ckpt)
    const whole = await countsOnce(log.source())
    expect(tasks.counts).toEqual(whole.counts)
    expect(Object.values(tasks.counts).reduce((a, b) => a + b, 0)).toBe(200)
    expect(scaleOutOf(tasks.query)?.tasks).toBe(P)
    expect((await readdir(join(ckpt, 'tasks'))).sort()).toEqual(['0', '1', '2'])
  })

  it('resumes each task from its own checkpoint: a restart reads only what arrived since', async () => {
    const log = await fresh()
    await appendByKey(log, rowsFrom(0, 60))
    const ckpt = await tempDir()
    const first = await countsOnce(log.source('stableKeyHash'), ckpt)
    await appendByKey(log, rowsFrom(60, 67))
    const second = await countsOnce(log.source('stableKeyHash'), ckpt)
    const updated = rowsFrom(60, 67)
    expect(Object.keys(second.counts).sort()).toEqual([...new Set(updated.map((r) => r.key))].sort())
    for (const key of Object.keys(second.counts)) {
      expect(second.counts[key]).toBe(first.counts[key]! + updated.filter((r) => r.key === key).length)
    }
  })

  it("refuses a stateful query over partitionedBy 'unknown', saying to declare partitionBy, repartition or read it as one source", async () => {
    const log = await fresh()
    const start = createSession()
      .readStream(log.source('unknown'))
      .pipe(groupBy((r: Row) => r.key, t.string), count())
      .writeStream({ outputMode: 'update', sink: memorySink() })
      .start()
    await expect(start).rejects.toBeInstanceOf(PartitioningMismatchError)
    await expect(start).rejects.toThrow(/partitionedBy: 'stableKeyHash'.*repartition.*without partitionedBy/s)
  })

  it("runs a stateless query over partitionedBy 'unknown' as tasks, each row once", async () => {
    const log = await fresh()
    for (let p = 0; p < P; p++) await log.append(p, rowsFrom(p * 50, p * 50 + 50))
    const sink = memorySink<Row>()
    const query = await createSession()
      .readStream(log.source('unknown'))
      .pipe(filter((r: Row) => r.id % 2 === 0))
      .writeStream({ outputMode: 'append', sink, trigger: trigger.availableNow() })
      .start()
    await query.awaitTermination()
    expect(scaleOutOf(query)?.tasks).toBe(P)
    expect(sink.rows().map((r) => r.id).sort((a, b) => a - b)).toEqual(rowsFrom(0, 150).filter((r) => r.id % 2 === 0).map((r) => r.id))
  })

  it('without partitionedBy stays one source whose checkpoint records the same identity and offsets as before, and is not taken over by tasks', async () => {
    const log = await fresh()
    await appendByKey(log, rowsFrom(0, 30))
    const ckpt = await tempDir()
    const source = log.source()
    expect(isPartitioned(source)).toBe(false)
    const { query } = await countsOnce(source, ckpt)
    expect(scaleOutOf(query)).toBeUndefined()
    const metadata = await readFile(join(ckpt, 'metadata'), 'utf8')
    expect(metadata).toContain(JSON.stringify({ kind: source.kind, identity: source.identity }).slice(1, -1))
    expect(source.identity).toMatch(/pc\d+[.:]\*$/)
    expect(Object.keys(query.lastProgress!.sources[0]!.endOffset as object)).toHaveLength(P)
    const switched = countsOnce(log.source('stableKeyHash'), ckpt)
    await expect(switched).rejects.toBeInstanceOf(IncompatibleCheckpointError)
    await expect(switched).rejects.toThrow(/read the source as one as before/)
  })

  it('a checkpoint written by tasks is not read by the same connector as one source', async () => {
    const log = await fresh()
    await appendByKey(log, rowsFrom(0, 10))
    const ckpt = await tempDir()
    await countsOnce(log.source('stableKeyHash'), ckpt)
    await expect(countsOnce(log.source(), ckpt)).rejects.toThrow(/ran as tasks/)
  })
})

describe('partitionedBy is checked', () => {
  const base = { servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', codec: Row }
  it('needs partitions', () => {
    expect(() => jetStream({ ...base, partitionedBy: 'stableKeyHash' })).toThrow(/partitionedBy needs partitions/)
    expect(() => redisStream({ url: 'redis://127.0.0.1:1', key: 'k', codec: Row, partitionedBy: 'unknown' })).toThrow(/partitionedBy needs partitions/)
  })
  it('takes only the known partitionings', () => {
    expect(() => jetStream({ ...base, partitions: 2, partitionedBy: 'key' as never })).toThrow(/'stableKeyHash' or 'unknown', got "key"/)
  })
  it('names no partition outside the range', () => {
    const source = jetStream({ ...base, partitions: 2, partitionedBy: 'unknown' })
    expect(source.partition(1).description).toBe('JetStream[S/s.1]')
    expect(() => source.partition(2)).toThrow(/no partition 2 \(there are 2\)/)
  })
})
