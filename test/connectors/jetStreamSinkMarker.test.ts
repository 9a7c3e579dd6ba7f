/**
 * jetStreamSink's commit marker, on a real nats-server: each query's last committed batch and the stream sequence it
 * ended at, kept in a KV bucket. A batch the marker holds is never published again, however long after the broker's
 * duplicate window; a re-run of a batch lists what an earlier attempt published and publishes only the rest; a marker
 * that is not one is refused.
 */
import { Kvm } from '@nats-io/kv'
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
