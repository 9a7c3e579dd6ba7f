import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BadMessageError,
  ConnectorUnavailableError,
  count,
  createSession,
  groupBy,
  jetStream,
  jetStreamSink,
  memorySink,
  nodeFs,
  StreamingQueryError,
  trigger,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { natsTestClient } from './natsHelpers.js'

const Row = t.type({ id: t.number, key: t.string })
type Row = t.TypeOf<typeof Row>

let n = 0
/** A fresh stream and subject per test, so tests share one server without seeing each other's data. */
async function freshStream(partitioned: boolean): Promise<{ stream: string; subject: string }> {
  const i = ++n
  await nats.client.addStream(`S${i}`, [partitioned ? `s${i}.*` : `s${i}`])
  return { stream: `S${i}`, subject: `s${i}` }
}
const dirs: string[] = []

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'srx-nats-test-'))
  dirs.push(dir)
  return dir
}
const rowsFrom = (from: number, to: number, keys = 3): Row[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, key: `k${(from + i) % keys}` }))
const ids = (rows: readonly Row[]) => rows.map((r) => r.id).sort((a, b) => a - b)

describe('jetStream source', () => {
  it('reads every message of every partition subject once, at most maxMessagesPerTrigger per batch, and resumes from its checkpoint', async () => {
    const { stream, subject } = await freshStream(true)
    for (let p = 0; p < 3; p++) await nats.client.publish(`${subject}.${p}`, rowsFrom(p * 100, p * 100 + 40))
    const ckpt = await tempDir()
    const run = async () => {
      const sink = memorySink<Row>()
      const q = await createSession()
        .readStream(jetStream({ servers: nats.server.url, stream, subject, partitions: 3, codec: Row, maxMessagesPerTrigger: 25 }))
        .writeStream({ outputMode: 'append', sink, checkpointLocation: ckpt, trigger: trigger.availableNow() })
        .start()
      await q.awaitTermination()
      return { q, rows: sink.rows() }
    }
    const first = await run()
    expect(ids(first.rows)).toEqual(ids([...rowsFrom(0, 40), ...rowsFrom(100, 140), ...rowsFrom(200, 240)]))
    expect(Math.max(...first.q.recentProgress.map((p) => p.numInputRows))).toBeLessThanOrEqual(25)
    await nats.client.publish(`${subject}.1`, rowsFrom(140, 150))
    const second = await run()
    expect(second.rows.map((r) => r.id)).toEqual(rowsFrom(140, 150).map((r) => r.id))
  })

  it('keeps one stream sequence per partition subject in its offsets, 0 for a subject with no messages yet', async () => {
    const { stream, subject } = await freshStream(true)
    const seq0 = await nats.client.publish(`${subject}.0`, rowsFrom(0, 2))
    const seq1 = await nats.client.publish(`${subject}.1`, rowsFrom(2, 3))
    const q = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream, subject, partitions: 3, codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    expect(q.lastProgress?.sources[0]?.endOffset).toEqual({ [`${subject}.0`]: Math.max(...seq0), [`${subject}.1`]: seq1[0], [`${subject}.2`]: 0 })
  })

  it('fails the query with BadMessageError naming the stream, subject, sequence and codec path', async () => {
    const { stream, subject } = await freshStream(false)
    await nats.client.publish(subject, [{ id: 1, key: 'a' }])
    const [badSeq] = await nats.client.publish(subject, [{ id: 2, key: 7 }])
    const q = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream, subject, codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.availableNow() })
      .start()
    const error = await q.awaitTermination().then(() => undefined, (e: unknown) => e)
    const cause = (error as StreamingQueryError).cause as BadMessageError
    expect(cause).toBeInstanceOf(BadMessageError)
    expect(cause.message).toContain(`stream ${stream} subject ${subject} at ${badSeq}`)
    expect(cause.codecPath).toBe('.key')
  })

  it('sends bad messages to badRecords and keeps the good ones', async () => {
    const { stream, subject } = await freshStream(false)
    await nats.client.publish(subject, [{ id: 1, key: 'a' }, '{oops', { id: 2, key: 'b' }])
    const dead = await tempDir()
    const sink = memorySink<Row>()
    const q = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream, subject, codec: Row, badRecords: { path: dead } }))
      .writeStream({ outputMode: 'append', sink, trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    expect(sink.rows()).toEqual([{ id: 1, key: 'a' }, { id: 2, key: 'b' }])
    const [file] = await readdir(dead)
    const record = JSON.parse(await readFile(join(dead, file!), 'utf8')) as { log: string; position: number; text: string }
    expect(record).toMatchObject({ log: `stream ${stream} subject ${subject}`, position: 2, text: '{oops' })
  })

  it('fails at start with a message naming a stream that does not exist', async () => {
    const start = createSession()
      .readStream(jetStream({ servers: nats.server.url, stream: 'NOPE', subject: 'nope', codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink() })
      .start()
    await expect(start).rejects.toThrow(/stream NOPE is not available/)
  })
})

describe('jetStreamSink', () => {
  it('places each row in partition hash(encode(key)) mod P, as the JSON a jetStream source reads back', async () => {
    const { stream, subject } = await freshStream(true)
    const input = await freshStream(false)
    await nats.client.publish(input.subject, rowsFrom(0, 60, 7))
    const q = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream: input.stream, subject: input.subject, codec: Row, maxMessagesPerTrigger: 13 }))
      .writeStream({
        outputMode: 'append',
        sink: jetStreamSink({ servers: nats.server.url, subject, partitions: 4, partitionBy: [(r: Row) => r.key, t.string] }),
        checkpointLocation: await tempDir(),
        trigger: trigger.availableNow(),
      })
      .start()
    await q.awaitTermination()
    const out = await nats.client.read(stream, `${subject}.*`)
    expect(ids(out.map((m) => JSON.parse(m.text) as Row))).toEqual(ids(rowsFrom(0, 60)))
    for (const m of out) {
      const row = JSON.parse(m.text) as Row
      expect(m.subject).toBe(`${subject}.${partitionOf(keyIdOf(row.key), 4)}`)
    }
    const back = memorySink<Row>()
    const reread = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream, subject, partitions: 4, codec: Row }))
      .writeStream({ outputMode: 'append', sink: back, trigger: trigger.availableNow() })
      .start()
    await reread.awaitTermination()
    expect(ids(back.rows())).toEqual(ids(rowsFrom(0, 60)))
  })

  it('publishes only what a crashed attempt did not, however long ago it crashed', async () => {
    // A duplicate window of 100 ms, long gone by the re-run: only the sink's own listing can prevent duplicates.
    const stream = `S${++n}`
    const subject = `s${n}`
    await nats.client.jsm.streams.add({ name: stream, subjects: [subject], duplicate_window: 100_000_000 })
    const ctx = { queryId: 'q-crashed', queryName: undefined, outputMode: 'append' as const, fs: nodeFs }
    const sink = jetStreamSink<Row>({ servers: nats.server.url, subject })
    const first = await sink.open(ctx)
    await first.addBatch(0, rowsFrom(0, 3))
    // A crashed attempt of batch 1 that published two of its rows (in another order) and never moved the marker.
    const crashed = await sink.open({ ...ctx })
    const partial = jetStreamSink<Row>({ servers: nats.server.url, subject, markerBucket: 'other-bucket' })
    const spy = await partial.open({ ...ctx })
    await spy.addBatch(1, [rowsFrom(5, 6)[0]!, rowsFrom(3, 4)[0]!])
    await spy.stop?.()
    await new Promise((r) => setTimeout(r, 300))
    await crashed.addBatch(1, rowsFrom(3, 7))
    await crashed.addBatch(1, rowsFrom(3, 7))
    const out = (await nats.client.read(stream, subject)).map((m) => JSON.parse(m.text) as Row)
    expect(ids(out)).toEqual(ids(rowsFrom(0, 7)))
    await first.stop?.()
    await crashed.stop?.()
  })

  it('writes update-mode counts of a grouped query, batch by batch', async () => {
    const { stream, subject } = await freshStream(false)
    const input = await freshStream(false)
    await nats.client.publish(input.subject, rowsFrom(0, 9))
    const q = await createSession({ shufflePartitions: 2 })
      .readStream(jetStream({ servers: nats.server.url, stream: input.stream, subject: input.subject, codec: Row, maxMessagesPerTrigger: 4 }))
      .pipe(groupBy((r: Row) => r.key, t.string), count())
      .writeStream({ outputMode: 'update', sink: jetStreamSink({ servers: nats.server.url, subject }), checkpointLocation: await tempDir(), trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    const latest = new Map((await nats.client.read(stream, subject)).map((m) => JSON.parse(m.text) as { key: string; count: number }).map((r) => [r.key, r.count]))
    expect(Object.fromEntries(latest)).toEqual({ k0: 3, k1: 3, k2: 3 })
  })
})

describe('jetStreamSink options and open', () => {
  const openOn = (options: { servers: string | string[]; subject: string; partitions?: number; retry?: { attempts: number; initialDelayMs: number; maxDelayMs: number } }) =>
    jetStreamSink<Row>(options).open({ queryId: 'q-open', queryName: undefined, outputMode: 'append', fs: nodeFs })

  it('describes itself by its subject, or its partition subjects', () => {
    expect(jetStreamSink({ servers: 'nats://x', subject: 'out' }).description).toBe('JetStreamSink[out]')
    expect(jetStreamSink({ servers: 'nats://x', subject: 'out', partitions: 3 }).description).toBe('JetStreamSink[out.[0..2]]')
  })

  it('refuses bad options naming itself: partitions, partitionBy without partitions, retry', () => {
    expect(() => jetStreamSink({ servers: 'nats://x', subject: 'out', partitions: 0 })).toThrow(new RangeError('jetStreamSink: partitions must be a positive integer, got 0'))
    expect(() => jetStreamSink({ servers: 'nats://x', subject: 'out', partitionBy: [(r: Row) => r.key, t.string] })).toThrow(
      new RangeError('jetStreamSink: partitionBy needs partitions'),
    )
    expect(() => jetStreamSink({ servers: 'nats://x', subject: 'out', retry: { attempts: 0 } })).toThrow(/^jetStreamSink: retry\.attempts must be a positive integer/)
  })

  it('fails to open with ConnectorUnavailableError naming every server once its retries run out', async () => {
    const servers = [`nats://127.0.0.1:${await freeLoopbackPort()}`, `nats://127.0.0.1:${await freeLoopbackPort()}`]
    const error = await openOn({ servers, subject: 'out', retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 } }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect((error as ConnectorUnavailableError).attempts).toBe(2)
    expect((error as Error).message).toContain(`nats-server ${servers[0]},${servers[1]}`)
  })

  it('fails to open when no stream stores its subject, or its partition subjects lie in different streams', async () => {
    const i = ++n
    await expect(openOn({ servers: nats.server.url, subject: `none${i}` })).rejects.toThrow()
    await nats.client.addStream(`A${i}`, [`split${i}.0`])
    await nats.client.addStream(`B${i}`, [`split${i}.1`])
    await expect(openOn({ servers: nats.server.url, subject: `split${i}`, partitions: 2 })).rejects.toThrow(
      `jetStreamSink: subjects split${i}.0, split${i}.1 must all be stored by one stream, found A${i}, B${i}`,
    )
  })

  it('stores rows that are equal in one batch once each, and a stopped writer publishes nothing more', async () => {
    const { stream, subject } = await freshStream(false)
    const writer = await openOn({ servers: nats.server.url, subject })
    const same = { id: 7, key: 'k' }
    await writer.addBatch(0, [same, same, same, { id: 8, key: 'k' }])
    await writer.stop?.()
    await expect(writer.addBatch(1, [{ id: 9, key: 'k' }])).rejects.toThrow()
    expect(ids((await nats.client.read(stream, subject)).map((m) => JSON.parse(m.text) as Row))).toEqual([7, 7, 7, 8])
  })
})

describe('JetStream connectors when the server goes away', () => {
  it('retry while the server restarts, then carry on exactly where they were', async () => {
    const input = await freshStream(false)
    const out = await freshStream(false)
    await nats.client.publish(input.subject, rowsFrom(0, 50))
    const q = await createSession()
      .readStream(jetStream({ servers: nats.server.url, stream: input.stream, subject: input.subject, codec: Row, maxMessagesPerTrigger: 10 }))
      .writeStream({ outputMode: 'append', sink: jetStreamSink({ servers: nats.server.url, subject: out.subject }), checkpointLocation: await tempDir() })
      .start()
    await q.processAllAvailable()
    await nats.server.restart(500)
    await nats.client.waitForStream(input.stream)
    await nats.client.publish(input.subject, rowsFrom(50, 80))
    await q.processAllAvailable()
    await q.stop()
    expect(ids((await nats.client.read(out.stream, out.subject)).map((m) => JSON.parse(m.text) as Row))).toEqual(ids(rowsFrom(0, 80)))
  })

  it('fail the query with ConnectorUnavailableError carrying the cause once the retries run out', async () => {
    const lonely = await startNats()
    const lonelyClient = await natsTestClient(lonely.url)
    await lonelyClient.addStream('L', ['l'])
    await lonelyClient.close()
    const q = await createSession()
      .readStream(jetStream({ servers: lonely.url, stream: 'L', subject: 'l', codec: Row, retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 50 } }))
      .writeStream({ outputMode: 'append', sink: memorySink() })
      .start()
    await q.processAllAvailable()
    await lonely.close()
    const error = await q.awaitTermination().then(() => undefined, (e: unknown) => e)
    const unavailable = (error as StreamingQueryError).cause as ConnectorUnavailableError
    expect(unavailable).toBeInstanceOf(ConnectorUnavailableError)
    expect(unavailable.attempts).toBe(2)
    expect(unavailable.cause).toBeInstanceOf(Error)
  })
})
