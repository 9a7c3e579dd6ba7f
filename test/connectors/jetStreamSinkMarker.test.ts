/**
 * jetStreamSink's commit marker, on a real nats-server: each query's last committed batch and the stream sequence it
 * ended at, kept in a KV bucket. A batch the marker holds is never published again, however long after the broker's
 * duplicate window; a re-run of a batch lists what an earlier attempt published and publishes only the rest; a marker
 * that is not one is refused.
 */
import { Kvm } from '@nats-io/kv'
import { connect, createServer, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { jetStreamSink, type JetStreamSinkOptions, nodeFs } from '../../src/index.js'
import { nanos } from '../../src/durable/natsClient.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { natsTestClient } from './natsHelpers.js'

interface Row {
  readonly id: number
  readonly key: string
}

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

let n = 0
/**
 * A fresh stream and subject per test. The duplicate window is 100 ms (the broker's shortest is of no concern here):
 * a test that waits longer than that sees only what the sink itself prevents.
 */
async function freshStream(partitioned = false): Promise<{ stream: string; subject: string }> {
  const i = ++n
  await nats.client.jsm.streams.add({ name: `M${i}`, subjects: [partitioned ? `m${i}.*` : `m${i}`], duplicate_window: nanos(100) })
  return { stream: `M${i}`, subject: `m${i}` }
}
const pastDuplicateWindow = () => new Promise((r) => setTimeout(r, 300))

/** Opens the sink for `queryId` and stops it after the test. */
async function openSink(options: Omit<JetStreamSinkOptions<Row>, 'servers'>, queryId: string) {
  const writer = await jetStreamSink<Row>({ servers: nats.server.url, ...options }).open({ queryId, queryName: undefined, outputMode: 'append', fs: nodeFs })
  closers.push(async () => writer.stop?.())
  return writer
}

async function bucket(name: string) {
  return new Kvm(nats.client.nc).open(name)
}
async function markerIn(bucketName: string, queryId: string): Promise<unknown> {
  const entry = await (await bucket(bucketName)).get(queryId)
  return entry === null || entry.operation !== 'PUT' ? undefined : entry.json()
}

const rowsFrom = (from: number, to: number): Row[] => Array.from({ length: to - from }, (_, i) => ({ id: from + i, key: `k${(from + i) % 3}` }))
async function storedRows(stream: string, filter: string): Promise<Row[]> {
  return (await nats.client.read(stream, filter)).map((m) => JSON.parse(m.text) as Row)
}
const ids = (rows: readonly Row[]) => rows.map((r) => r.id).sort((a, b) => a - b)
const lastSeq = async (stream: string) => (await nats.client.jsm.streams.info(stream)).state.last_seq

describe('jetStreamSink commit marker', () => {
  it('keeps the last committed batch and the sequence it ended at under the query id in the KV bucket structured-rx-batches', async () => {
    const { stream, subject } = await freshStream()
    await nats.client.publish(subject, [{ id: -1, key: 'before' }])
    const writer = await openSink({ subject }, 'q-marker')
    await writer.addBatch(0, rowsFrom(0, 3))
    expect(await markerIn('structured-rx-batches', 'q-marker')).toEqual({ batchId: 0, seq: 4 })
    await writer.addBatch(1, rowsFrom(3, 5))
    expect(await markerIn('structured-rx-batches', 'q-marker')).toEqual({ batchId: 1, seq: 6 })
    // Messages of others after the batch, then an empty batch: the marker moves on, its sequence stays the sink's own.
    await nats.client.publish(subject, [{ id: 100, key: 'other' }])
    await writer.addBatch(2, [])
    expect(await markerIn('structured-rx-batches', 'q-marker')).toEqual({ batchId: 2, seq: 6 })
    expect(await lastSeq(stream)).toBe(7)
  })

  it('keeps it in the bucket markerBucket names, when given', async () => {
    const { subject } = await freshStream()
    const writer = await openSink({ subject, markerBucket: 'own-markers' }, 'q-own-bucket')
    await writer.addBatch(0, rowsFrom(0, 2))
    expect(await markerIn('own-markers', 'q-own-bucket')).toEqual({ batchId: 0, seq: 2 })
    expect(await markerIn('structured-rx-batches', 'q-own-bucket')).toBeUndefined()
  })

  it('starts a new query at the end of the stream: a batch of a new query lists nothing before it', async () => {
    const { stream, subject } = await freshStream()
    await nats.client.publish(subject, rowsFrom(0, 4))
    const writer = await openSink({ subject }, 'q-new')
    await writer.addBatch(0, [])
    expect(await markerIn('structured-rx-batches', 'q-new')).toEqual({ batchId: 0, seq: 4 })
    await writer.addBatch(1, rowsFrom(0, 4))
    expect(ids(await storedRows(stream, subject))).toEqual(ids([...rowsFrom(0, 4), ...rowsFrom(0, 4)]))
  })

  it('never publishes a batch the marker holds again, from this writer or a new one, long after the duplicate window', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-replay')
    await writer.addBatch(0, rowsFrom(0, 3))
    await writer.addBatch(1, rowsFrom(3, 6))
    await pastDuplicateWindow()
    await writer.addBatch(1, rowsFrom(3, 6))
    await writer.addBatch(0, rowsFrom(0, 3))
    const reopened = await openSink({ subject }, 'q-replay')
    await reopened.addBatch(1, rowsFrom(3, 6))
    await reopened.addBatch(2, rowsFrom(6, 7))
    expect(ids(await storedRows(stream, subject))).toEqual(ids(rowsFrom(0, 7)))
    expect(await markerIn('structured-rx-batches', 'q-replay')).toEqual({ batchId: 2, seq: 7 })
  })

  it('stores the same rows again when a later batch or another query writes them', async () => {
    const { stream, subject } = await freshStream()
    const a = await openSink({ subject }, 'q-same-a')
    const b = await openSink({ subject }, 'q-same-b')
    const row = { id: 1, key: 'same' }
    await a.addBatch(0, [row, row])
    await a.addBatch(1, [row])
    await b.addBatch(0, [row])
    expect(await storedRows(stream, subject)).toEqual([row, row, row, row])
  })

  it.each([
    ['a batch id that is not a number', JSON.stringify({ batchId: 'three', seq: 1 })],
    ['no JSON at all', 'batch 3'],
  ])('refuses a marker that is not one (%s), naming the bucket and the key, and publishes nothing', async (_, text) => {
    const { stream, subject } = await freshStream()
    const kv = await new Kvm(nats.client.nc).create('damaged-markers')
    await kv.put('q-damaged', text)
    const writer = await openSink({ subject, markerBucket: 'damaged-markers' }, 'q-damaged')
    await expect(writer.addBatch(4, rowsFrom(0, 2))).rejects.toThrow('jetStreamSink: marker q-damaged in KV bucket damaged-markers is not a batch marker')
    expect(await lastSeq(stream)).toBe(0)
  })

  it('creates a marker deleted from the bucket again at the end of the stream', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-deleted')
    await writer.addBatch(0, rowsFrom(0, 2))
    await (await bucket('structured-rx-batches')).delete('q-deleted')
    await nats.client.publish(subject, [{ id: 100, key: 'other' }])
    await writer.addBatch(1, rowsFrom(2, 4))
    expect(await markerIn('structured-rx-batches', 'q-deleted')).toEqual({ batchId: 1, seq: 5 })
    expect(ids(await storedRows(stream, subject))).toEqual(ids([...rowsFrom(0, 4), { id: 100, key: 'other' }]))
  })
})

/**
 * Publishes `rows` as an earlier attempt of `batchId` of `queryId` that crashed before it moved the marker: the same
 * message ids the sink gives them, its own marker kept in another bucket so the query's marker stays where it was.
 */
async function publishAsCrashedAttempt(options: Omit<JetStreamSinkOptions<Row>, 'servers'>, queryId: string, batchId: number, rows: Row[]) {
  const crashed = await jetStreamSink<Row>({ servers: nats.server.url, ...options, markerBucket: 'crashed-attempts' }).open({ queryId, queryName: undefined, outputMode: 'append', fs: nodeFs })
  await crashed.addBatch(batchId, rows)
  await crashed.stop?.()
}

describe('jetStreamSink re-running a batch', () => {
  it('lists every partition subject past messages without ids and other queries’ messages, and publishes only the rest', async () => {
    const { stream, subject } = await freshStream(true)
    const options = { subject, partitions: 3 }
    const writer = await openSink(options, 'q-rerun')
    await writer.addBatch(0, rowsFrom(0, 6))
    await publishAsCrashedAttempt(options, 'q-rerun', 1, [rowsFrom(8, 9)[0]!, rowsFrom(10, 11)[0]!, rowsFrom(7, 8)[0]!])
    for (let p = 0; p < 3; p++) await nats.client.publish(`${subject}.${p}`, [{ id: 100 + p, key: 'no id' }])
    const other = await openSink(options, 'q-rerun-other')
    await other.addBatch(1, rowsFrom(7, 12))
    await pastDuplicateWindow()
    const reopened = await openSink(options, 'q-rerun')
    await reopened.addBatch(1, rowsFrom(7, 12))
    expect(ids(await storedRows(stream, `${subject}.*`))).toEqual(ids([...rowsFrom(0, 6), ...rowsFrom(7, 12), ...rowsFrom(7, 12), { id: 100, key: '' }, { id: 101, key: '' }, { id: 102, key: '' }]))
    expect(await markerIn('structured-rx-batches', 'q-rerun')).toEqual({ batchId: 1, seq: await lastSeq(stream) })
  })

  it('moves the marker to the last sequence of the batch when a crashed attempt had published all of it', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-all-sent')
    await writer.addBatch(0, rowsFrom(0, 2))
    await publishAsCrashedAttempt({ subject }, 'q-all-sent', 1, rowsFrom(2, 5))
    const endOfCrashedAttempt = await lastSeq(stream)
    await nats.client.publish(subject, [{ id: 100, key: 'no id' }])
    const other = await openSink({ subject }, 'q-all-sent-other')
    await other.addBatch(0, rowsFrom(5, 6))
    await pastDuplicateWindow()
    const reopened = await openSink({ subject }, 'q-all-sent')
    await reopened.addBatch(1, rowsFrom(2, 5))
    expect(ids(await storedRows(stream, subject))).toEqual(ids([...rowsFrom(0, 6), { id: 100, key: '' }]))
    expect(await markerIn('structured-rx-batches', 'q-all-sent')).toEqual({ batchId: 1, seq: endOfCrashedAttempt })
  })

  it('lists the stream only when something was stored after the marker’s sequence, also on the first batch after an open', async () => {
    const { stream, subject } = await freshStream()
    const listings: string[] = []
    const sub = nats.client.nc.subscribe('$JS.API.CONSUMER.CREATE.>', { callback: (_, m) => void (m.subject.split('.')[4] === stream && listings.push(m.subject)) })
    closers.push(async () => sub.unsubscribe())
    const counts: number[] = []
    const added = async (writer: Awaited<ReturnType<typeof openSink>>, batch: number) => {
      await writer.addBatch(batch, rowsFrom(batch * 2, batch * 2 + 2))
      await nats.client.nc.flush()
      counts.push(listings.length)
    }
    const writer = await openSink({ subject }, 'q-listings')
    for (let batch = 0; batch < 3; batch++) await added(writer, batch)
    await nats.client.publish(subject, [{ id: 100, key: 'no id' }])
    await added(writer, 3)
    await added(writer, 4)
    await added(await openSink({ subject }, 'q-listings'), 5)
    expect(counts).toEqual([0, 0, 0, 1, 1, 1])
    expect(ids(await storedRows(stream, subject))).toEqual(ids([...rowsFrom(0, 12), { id: 100, key: '' }]))
  })

  it('lists the stream after a batch it committed itself when another writer of the query stored part of the next batch since', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-taken-over')
    await writer.addBatch(0, rowsFrom(0, 2))
    // A process that took the query over while this one stalled, and failed in the middle of batch 1.
    await publishAsCrashedAttempt({ subject }, 'q-taken-over', 1, rowsFrom(2, 4))
    await pastDuplicateWindow()
    await writer.addBatch(1, rowsFrom(2, 6))
    expect(ids(await storedRows(stream, subject))).toEqual(ids(rowsFrom(0, 6)))
    expect(await markerIn('structured-rx-batches', 'q-taken-over')).toEqual({ batchId: 1, seq: await lastSeq(stream) })
  })

  it('lists the stream after a batch it committed itself when other messages were stored since, and stores each row once', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-foreign')
    await writer.addBatch(0, rowsFrom(0, 2))
    await nats.client.publish(subject, [{ id: 100, key: 'no id' }])
    await writer.addBatch(1, rowsFrom(2, 4))
    expect(ids(await storedRows(stream, subject))).toEqual(ids([...rowsFrom(0, 4), { id: 100, key: '' }]))
    expect(await markerIn('structured-rx-batches', 'q-foreign')).toEqual({ batchId: 1, seq: await lastSeq(stream) })
  })

  it('re-runs a batch whose marker is at sequence 0 of an empty stream, listing from its first message', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-first')
    await writer.addBatch(0, [])
    await publishAsCrashedAttempt({ subject }, 'q-first', 1, rowsFrom(0, 2))
    await pastDuplicateWindow()
    await writer.addBatch(1, rowsFrom(0, 3))
    expect(ids(await storedRows(stream, subject))).toEqual(ids(rowsFrom(0, 3)))
    expect(await markerIn('structured-rx-batches', 'q-first')).toEqual({ batchId: 1, seq: 3 })
  })

  it('re-runs a batch larger than the publish window whose crashed attempt stored most of it: lists it all, publishes the rest', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-large')
    await writer.addBatch(0, rowsFrom(0, 2))
    await publishAsCrashedAttempt({ subject }, 'q-large', 1, rowsFrom(2, 2402))
    await pastDuplicateWindow()
    const reopened = await openSink({ subject }, 'q-large')
    await reopened.addBatch(1, rowsFrom(2, 2502))
    expect(ids(await storedRows(stream, subject))).toEqual(ids(rowsFrom(0, 2502)))
    expect(await markerIn('structured-rx-batches', 'q-large')).toEqual({ batchId: 1, seq: 2502 })
  })

  it('leaves no consumer behind on the stream once it listed it', async () => {
    const { stream, subject } = await freshStream()
    const writer = await openSink({ subject }, 'q-no-consumer')
    await writer.addBatch(0, rowsFrom(0, 2))
    await nats.client.publish(subject, [{ id: 100, key: 'no id' }])
    await writer.addBatch(1, rowsFrom(2, 4))
    for (let i = 0; ; i++) {
      const consumers = await nats.client.jsm.consumers.list(stream).next()
      if (consumers.length === 0) break
      if (i === 50) throw new Error(`consumers left on ${stream}: ${consumers.map((c) => c.name).join(', ')}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  })
})

/**
 * A TCP proxy to the server. Once armed, it forwards the client's bytes up to the `after`-th message published with
 * headers (`HPUB`, as every message of the sink) on `subject`, then closes both sides: the server stored the messages
 * before it, their acknowledgements never reach the client, and the rest never left it. Later connections pass.
 */
async function droppingProxy(port: number): Promise<{ url: string; arm(subject: string, after: number): void; dropped(): boolean }> {
  let armed: { marker: string; left: number } | undefined
  let dropped = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      if (armed === undefined) return void upstream.write(chunk)
      const text = chunk.toString('latin1')
      for (let at = text.indexOf(armed.marker); at >= 0; at = text.indexOf(armed.marker, at + 1)) {
        if (--armed.left > 0) continue
        armed = undefined
        dropped = true
        upstream.end(chunk.subarray(0, at), () => upstream.destroy())
        client.destroy()
        return
      }
      upstream.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy: no port')
  return {
    url: `nats://127.0.0.1:${address.port}`,
    arm: (subject, after) => void (armed = { marker: `HPUB ${subject} `, left: after }),
    dropped: () => dropped,
  }
}

describe('jetStreamSink when its connection drops in the middle of a batch', () => {
  it('lists what the failed try stored before it tries again, and stores each row once', async () => {
    const { stream, subject } = await freshStream()
    const proxy = await droppingProxy(nats.server.port)
    const writer = await jetStreamSink<Row>({ servers: proxy.url, subject }).open({ queryId: 'q-dropped', queryName: undefined, outputMode: 'append', fs: nodeFs })
    closers.push(async () => writer.stop?.())
    await writer.addBatch(0, rowsFrom(0, 10))
    proxy.arm(subject, 50)
    await writer.addBatch(1, rowsFrom(10, 210))
    expect(proxy.dropped()).toBe(true)
    expect(ids(await storedRows(stream, subject))).toEqual(ids(rowsFrom(0, 210)))
    expect(await markerIn('structured-rx-batches', 'q-dropped')).toEqual({ batchId: 1, seq: 210 })
  }, 30_000)
})
