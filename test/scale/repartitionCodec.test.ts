/**
 * `repartition` through `via` with a codec whose stored form differs from its value (a Date stored as epoch ms):
 * part one writes the encoded form that part two decodes, and a row that does not fit the codec fails part one's
 * batch before anything is written — over a real redis-server and nats-server.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  groupBy,
  jetStreamPartitions,
  memorySink,
  memorySource,
  redisStreamPartitions,
  repartition,
  type RepartitionVia,
  type StreamingQuery,
  trigger,
} from '../../src/index.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { startRedis } from '../support/servers/redis.js'

/** A Date stored as its epoch milliseconds. */
const DateFromNumber = new t.Type<Date, number, unknown>(
  'DateFromNumber',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'number' ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.getTime(),
)
const Visit = t.type({ user: t.string, at: DateFromNumber })
type Visit = t.TypeOf<typeof Visit>
const user = (v: Visit) => v.user

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })
const started: StreamingQuery[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop().catch(() => undefined)))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

let n = 0
interface Via {
  readonly via: RepartitionVia<Visit>
  /** The stored text of every row written into the via stream. */
  stored(): Promise<string[]>
}
const vias: Record<string, () => Promise<Via>> = {
  redis: async () => {
    const key = `rc${++n}`
    const via = redisStreamPartitions({ url: redis.server.url, key, partitions: 2, codec: Visit })
    const stored = async () => {
      const all = await Promise.all([0, 1].map((p) => redis.client.xrange(`${key}:${p}`, '-', '+')))
      return all.flat().map(([, fields]) => fields[fields.indexOf('value') + 1]!)
    }
    return { via, stored }
  },
  jetStream: async () => {
    const i = ++n
    await nats.client.addStream(`RC${i}`, [`rc${i}.*`])
    const via = jetStreamPartitions({ servers: nats.server.url, stream: `RC${i}`, subject: `rc${i}`, partitions: 2, codec: Visit })
    return { via, stored: async () => (await nats.client.read(`RC${i}`, `rc${i}.*`)).map((m) => m.text) }
  },
}

async function start(via: RepartitionVia<Visit>, rows: readonly Visit[]) {
  const input = memorySource<Visit>()
  input.addData(rows)
  const sink = memorySink<{ key: string; count: number }>()
  const dir = await mkdtemp(join(tmpdir(), 'srx-repartition-codec-'))
  dirs.push(dir)
  const query = await createSession()
    .readStream(input.source)
    .pipe(repartition(user, t.string, { via }), groupBy(user, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation: dir, queryName: 'visits', trigger: trigger.availableNow() })
    .start()
  started.push(query)
  return { query, sink }
}

describe.each(Object.keys(vias))('repartition through %s with a codec whose stored form is not its value', (name) => {
  it('writes the encoded form, which part two decodes back', async () => {
    const { via, stored } = await vias[name]!()
    const visits = [{ user: 'a', at: new Date(1000) }, { user: 'b', at: new Date(2000) }, { user: 'a', at: new Date(3000) }]
    const { query, sink } = await start(via, visits)
    await query.awaitTermination()
    expect(Object.fromEntries(sink.rows().map((r) => [r.key, r.count]))).toEqual({ a: 2, b: 1 })
    const ats = (await stored()).map((text) => (JSON.parse(text) as { at: unknown }).at)
    expect(ats.sort()).toEqual([1000, 2000, 3000])
  })

  it('fails part one\'s batch before writing anything when a row does not fit the codec, naming query, via and path', async () => {
    const { via, stored } = await vias[name]!()
    const { query } = await start(via, [{ user: 'a', at: new Date(1000) }, { user: 'b', at: 'yesterday' as unknown as Date }])
    const failure = query.awaitTermination()
    await expect(failure).rejects.toThrow(/visits\[repartition\]/)
    await expect(failure).rejects.toThrow(new RegExp(`${via.description.replace(/[[\]().*]/g, '\\$&')}`))
    await expect(failure).rejects.toThrow(/\.at/)
    await expect(failure).rejects.toThrow(/DateFromNumber/)
    expect(await stored()).toEqual([])
  })
})
