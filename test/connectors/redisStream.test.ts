import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BadMessageError,
  ConnectorUnavailableError,
  count,
  createSession,
  groupBy,
  map,
  memorySink,
  redisStream,
  redisStreamSink,
  StreamingQueryError,
  trigger,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { useServer } from '../support/servers/managed.js'
import { startRedis } from '../support/servers/redis.js'
import { freeLoopbackPort } from '../support/servers/ports.js'

const Row = t.type({ id: t.number, key: t.string })
type Row = t.TypeOf<typeof Row>

let n = 0
/** A fresh key per test, so tests share one server without seeing each other's data. */
const freshKey = () => `t${++n}`
const dirs: string[] = []

const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'srx-redis-test-'))
  dirs.push(dir)
  return dir
}

async function append(key: string, rows: readonly unknown[]): Promise<string[]> {
  const pipe = redis.client.pipeline()
  for (const r of rows) pipe.xadd(key, '*', 'value', typeof r === 'string' ? r : JSON.stringify(r))
  return (await pipe.exec())!.map(([, id]) => id as string)
}
async function readValues<T>(key: string): Promise<T[]> {
  return (await redis.client.xrange(key, '-', '+')).map(([, fields]) => JSON.parse(fields[fields.indexOf('value') + 1]!) as T)
}
const rowsFrom = (from: number, to: number, keys = 3): Row[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, key: `k${(from + i) % keys}` }))

describe('redisStream source', () => {
  it('reads every entry of every partition once, at most maxEntriesPerTrigger per batch, and resumes from its checkpoint', async () => {
    const key = freshKey()
    for (let p = 0; p < 3; p++) await append(`${key}:${p}`, rowsFrom(p * 100, p * 100 + 40))
    const ckpt = await tempDir()
    const run = async () => {
      const sink = memorySink<Row>()
      const q = await createSession()
        .readStream(redisStream({ url: redis.server.url, key, partitions: 3, codec: Row, maxEntriesPerTrigger: 25 }))
        .writeStream({ outputMode: 'append', sink, checkpointLocation: ckpt, trigger: trigger.availableNow() })
        .start()
      await q.awaitTermination()
      return { q, rows: sink.rows() }
    }
    const first = await run()
    expect(first.rows.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      [...rowsFrom(0, 40), ...rowsFrom(100, 140), ...rowsFrom(200, 240)].map((r) => r.id),
    )
    expect(Math.max(...first.q.recentProgress.map((p) => p.numInputRows))).toBeLessThanOrEqual(25)
    await append(`${key}:1`, rowsFrom(140, 150))
    const second = await run()
    expect(second.rows.map((r) => r.id)).toEqual(rowsFrom(140, 150).map((r) => r.id))
  })

  it('keeps one entry id per partition key in its offsets, 0-0 for a key with no entries yet', async () => {
    const key = freshKey()
    const ids0 = await append(`${key}:0`, rowsFrom(0, 2))
    const ids1 = await append(`${key}:1`, rowsFrom(2, 3))
    const q = await createSession()
      .readStream(redisStream({ url: redis.server.url, key, partitions: 3, codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    expect(q.lastProgress?.sources[0]?.endOffset).toEqual({ [`${key}:0`]: ids0[1], [`${key}:1`]: ids1[0], [`${key}:2`]: '0-0' })
  })

  it('fails the query with BadMessageError naming the key, the entry id and the codec path', async () => {
    const key = freshKey()
    await append(key, [{ id: 1, key: 'a' }])
    const [badId] = await append(key, [{ id: 'two', key: 'b' }])
    const q = await createSession()
      .readStream(redisStream({ url: redis.server.url, key, codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.availableNow() })
      .start()
    const error = await q.awaitTermination().then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    const cause = (error as StreamingQueryError).cause
    expect(cause).toBeInstanceOf(BadMessageError)
    expect((cause as BadMessageError).log).toBe(`key ${key}`)
    expect((cause as BadMessageError).position).toBe(badId)
    expect((cause as BadMessageError).codecPath).toBe('.id')
  })

  it('sends bad entries (malformed JSON, no value field) to badRecords and keeps the good ones', async () => {
    const key = freshKey()
    await append(key, [{ id: 1, key: 'a' }, '{not json'])
    const [noValue] = [await redis.client.xadd(key, '*', 'other', 'x')]
    await append(key, [{ id: 2, key: 'b' }])
    const dead = await tempDir()
    const sink = memorySink<Row>()
    const q = await createSession()
      .readStream(redisStream({ url: redis.server.url, key, codec: Row, badRecords: { path: dead } }))
      .writeStream({ outputMode: 'append', sink, trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    expect(sink.rows()).toEqual([{ id: 1, key: 'a' }, { id: 2, key: 'b' }])
    const files = await readdir(dead)
    const records = (await Promise.all(files.map((f) => readFile(join(dead, f), 'utf8'))))
      .flatMap((text) => text.trim().split('\n'))
      .map((line) => JSON.parse(line) as { position: string; reason: string })
    expect(records.map((r) => r.reason)).toEqual([expect.stringMatching(/malformed JSON/), expect.stringMatching(/no field 'value'/)])
    expect(records[1]!.position).toBe(noValue)
  })
})

describe('redisStreamSink', () => {
  it('writes each row as an entry with its JSON in field value, readable by redisStream', async () => {
    const input = freshKey()
    const out = freshKey()
    await append(input, rowsFrom(0, 30))
    const q = await createSession()
      .readStream(redisStream({ url: redis.server.url, key: input, codec: Row, maxEntriesPerTrigger: 7 }))
      .pipe(map((r: Row) => ({ ...r, id: r.id * 10 })))
      .writeStream({ outputMode: 'append', sink: redisStreamSink({ url: redis.server.url, key: out }), checkpointLocation: await tempDir(), trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    expect(await readValues<Row>(out)).toEqual(rowsFrom(0, 30).map((r) => ({ ...r, id: r.id * 10 })))
  })

  it('skips a batch whose marker it already wrote, so a re-run batch adds nothing', async () => {
    const out = freshKey()
    const sink = redisStreamSink({ url: redis.server.url, key: out })
    const ctx = { queryId: 'q-rerun', queryName: undefined, outputMode: 'append' as const, fs: (await import('../../src/index.js')).nodeFs }
    const writer = await sink.open(ctx)
    await writer.addBatch(0, [{ a: 1 }, { a: 2 }])
    await writer.addBatch(0, [{ a: 1 }, { a: 2 }])
    const reopened = await sink.open(ctx)
    await reopened.addBatch(0, [{ a: 1 }, { a: 2 }])
    await reopened.addBatch(1, [{ a: 3 }])
    expect(await readValues(out)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }])
    expect(await redis.client.hget(`${out}:srx-batches`, 'q-rerun')).toBe('1')
    await writer.stop?.()
    await reopened.stop?.()
  })

  it('with partitions and partitionBy, writes each row once into the key <key>:<p> of its key partition, batch and marker in one transaction', async () => {
    const out = freshKey()
    const sink = redisStreamSink({ url: redis.server.url, key: out, partitions: 3, partitionBy: [(r: Row) => r.key, t.string] })
    const ctx = { queryId: 'q-parts', queryName: undefined, outputMode: 'append' as const, fs: (await import('../../src/index.js')).nodeFs }
    const writer = await sink.open(ctx)
    await writer.addBatch(0, rowsFrom(0, 20, 7))
    await writer.addBatch(0, rowsFrom(0, 20, 7))
    await writer.stop?.()
    const written: Row[] = []
    for (let p = 0; p < 3; p++) {
      const rows = await readValues<Row>(`${out}:${p}`)
      for (const r of rows) expect(partitionOf(keyIdOf(r.key), 3)).toBe(p)
      written.push(...rows)
    }
    expect(written.map((r) => r.id).sort((a, b) => a - b)).toEqual(rowsFrom(0, 20).map((r) => r.id))
    expect(await redis.client.hget(`${out}:srx-batches`, 'q-parts')).toBe('0')
  })

  it('refuses partitionBy without partitions', () => {
    expect(() => redisStreamSink({ url: redis.server.url, key: 'k', partitionBy: [(r: Row) => r.key, t.string] })).toThrow(/partitionBy needs partitions/)
  })

  it('describes itself by its key, or its partition keys, and refuses bad options naming itself', () => {
    expect(redisStreamSink({ url: 'redis://127.0.0.1:1', key: 'out' }).description).toBe('RedisStreamSink[out]')
    expect(redisStreamSink({ url: 'redis://127.0.0.1:1', key: 'out', partitions: 3 }).description).toBe('RedisStreamSink[out:[0..2]]')
    expect(() => redisStreamSink({ url: 'redis://127.0.0.1:1', key: 'out', partitions: 1.5 })).toThrow(new RangeError('redisStreamSink: partitions must be a positive integer, got 1.5'))
    expect(() => redisStreamSink({ url: 'redis://127.0.0.1:1', key: 'out', retry: { attempts: 0 } })).toThrow(/^redisStreamSink: retry\.attempts must be a positive integer/)
  })

  it('fails a batch with ConnectorUnavailableError naming the server once its retries run out', async () => {
    const port = await freeLoopbackPort()
    const writer = await redisStreamSink({ url: `redis://127.0.0.1:${port}`, key: 'out', retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 } }).open({
      queryId: 'q-away',
      queryName: undefined,
      outputMode: 'append',
      fs: (await import('../../src/index.js')).nodeFs,
    })
    try {
      const error = await writer.addBatch(0, [{ a: 1 }]).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(ConnectorUnavailableError)
      expect((error as ConnectorUnavailableError).attempts).toBe(2)
      expect((error as Error).message).toContain(`redis-server 127.0.0.1:${port}`)
    } finally {
      await writer.stop?.()
    }
  })

  it('a stopped writer closes its connection and writes nothing more', async () => {
    const out = freshKey()
    const writer = await redisStreamSink({ url: redis.server.url, key: out, retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 } }).open({
      queryId: 'q-stop',
      queryName: undefined,
      outputMode: 'append',
      fs: (await import('../../src/index.js')).nodeFs,
    })
    await writer.addBatch(0, [{ a: 1 }])
    await writer.stop?.()
    await expect(writer.addBatch(1, [{ a: 2 }])).rejects.toThrow()
    expect(await readValues(out)).toEqual([{ a: 1 }])
  })

  it('writes the update-mode rows of a stateful query batch by batch', async () => {
    const input = freshKey()
    const out = freshKey()
    await append(input, rowsFrom(0, 9))
    const q = await createSession({ shufflePartitions: 2 })
      .readStream(redisStream({ url: redis.server.url, key: input, codec: Row, maxEntriesPerTrigger: 5 }))
      .pipe(groupBy((r: Row) => r.key, t.string), count())
      .writeStream({ outputMode: 'update', sink: redisStreamSink({ url: redis.server.url, key: out }), checkpointLocation: await tempDir(), trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    const latest = new Map((await readValues<{ key: string; count: number }>(out)).map((r) => [r.key, r.count]))
    expect(Object.fromEntries(latest)).toEqual({ k0: 3, k1: 3, k2: 3 })
  })
})

describe('redis connectors when the server goes away', () => {
  it('retry while the server restarts, then carry on exactly where they were', async () => {
    const input = freshKey()
    const out = freshKey()
    await append(input, rowsFrom(0, 50))
    const ckpt = await tempDir()
    const q = await createSession()
      .readStream(redisStream({ url: redis.server.url, key: input, codec: Row, maxEntriesPerTrigger: 10 }))
      .writeStream({ outputMode: 'append', sink: redisStreamSink({ url: redis.server.url, key: out }), checkpointLocation: ckpt })
      .start()
    await q.processAllAvailable()
    await redis.server.restart(500)
    await append(input, rowsFrom(50, 80))
    await q.processAllAvailable()
    await q.stop()
    expect((await readValues<Row>(out)).map((r) => r.id)).toEqual(rowsFrom(0, 80).map((r) => r.id))
  })

  it('fail the query with ConnectorUnavailableError carrying the cause once the retries run out', async () => {
    const lonely = await startRedis()
    const key = freshKey()
    const q = await createSession()
      .readStream(redisStream({ url: lonely.url, key, codec: Row, retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 100 } }))
      .writeStream({ outputMode: 'append', sink: memorySink() })
      .start()
    await q.processAllAvailable()
    await lonely.close()
    const error = await q.awaitTermination().then(() => undefined, (e: unknown) => e)
    expect((error as StreamingQueryError).cause).toBeInstanceOf(ConnectorUnavailableError)
    const unavailable = (error as StreamingQueryError).cause as ConnectorUnavailableError
    expect(unavailable.attempts).toBe(3)
    expect(unavailable.cause).toBeInstanceOf(Error)
    expect(unavailable.message).toContain(`redis-server 127.0.0.1:${lonely.port}`)
  })
})
