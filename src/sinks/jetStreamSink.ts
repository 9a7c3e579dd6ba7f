import { createHash } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import * as t from 'io-ts'
import { connectNats, isTransientNatsError, nanos, type NatsClient } from '../durable/natsClient.js'
import { checkPartitions } from '../util/partitions.js'
import { type PartitionBy, placement } from './placement.js'
import { type RetryOptions, retryPolicy, withRetry } from '../durable/retry.js'
import type { Sink } from './sink.js'

/**
 * Options of `jetStreamSink`.
 * @example jetStreamSink({ servers: 'nats://127.0.0.1:4222', subject: 'counts', partitions: 4, partitionBy: [(r: { key: string }) => r.key, t.string] })
 */
export interface JetStreamSinkOptions<R, K = unknown> {
  /** One server URL or several, e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[]
  /** The subject, or with `partitions` the prefix of the partition subjects `<subject>.<p>`; a stream must hold it. */
  readonly subject: string
  /** Publish to `<subject>.0` … `<subject>.<P-1>`. */
  readonly partitions?: number
  /**
   * The key that places a row: partition `hash(encode(key)) mod P`, with the hash the engine uses for state
   * partitions, so stream partition p feeds state partition p of a query grouping by the same key. Without it a
   * row's partition is a hash of its JSON.
   */
  readonly partitionBy?: PartitionBy<R, K>
  /** What is stored for a row, as JSON (default: the row itself); e.g. a codec's `encode`. Placement still reads the row. */
  readonly encode?: (row: R) => unknown
  /** The KV bucket holding each query's commit marker (default `structured-rx-batches`; created when missing). */
  readonly markerBucket?: string
  /** How a batch is retried while the server is unreachable (default: 10 tries, about 11 s of back-off). */
  readonly retry?: RetryOptions
}

const Marker = t.type({ batchId: t.number, seq: t.number })
type Marker = t.TypeOf<typeof Marker>
/** Publishes in flight at once: enough to keep the connection busy, few enough to bound memory. */
const PUBLISH_WINDOW = 2000
const FETCH_CHUNK = 10_000

/**
 * Publishes each micro-batch's rows to JetStream, one message per row with the row as UTF-8 JSON (what `jetStream`
 * reads). Exactly once across crashes however long the restart takes: every message carries the id
 * `<queryId>.<batchId>.<digest of the row>.<n>`; a KV marker per query holds the last committed batch and the stream
 * sequence it ended at. A re-run batch first lists the ids the crashed attempt published after that sequence and
 * publishes only the rest (the broker's duplicate window also catches a publish resent after a reconnect); then
 * it moves the marker, with a compare-and-set on its revision, so a batch the marker holds is never published again.
 * @example writeStream({ outputMode: 'append', sink: jetStreamSink({ servers, subject: 'out', partitions: 4, partitionBy: [(r) => r.key, t.string] }), checkpointLocation })
 * Fails the query with ConnectorUnavailableError when the server stays unreachable through `retry`, and at open
 * when no stream holds the subject(s) or they lie in different streams.
 * @throws RangeError on a bad `partitions`, or `partitionBy` without `partitions`.
 */
export function jetStreamSink<R, K = unknown>(options: JetStreamSinkOptions<R, K>): Sink<R> {
  const partitions = checkPartitions(options.partitions, 'jetStreamSink')
  if (options.partitionBy !== undefined && partitions === undefined) {
    throw new RangeError('jetStreamSink: partitionBy needs partitions')
  }
  const subjects = partitions === undefined ? [options.subject] : Array.from({ length: partitions }, (_, p) => `${options.subject}.${p}`)
  const servers = typeof options.servers === 'string' ? options.servers : options.servers.join(',')
  const connector = `nats-server ${servers}`
  const policy = retryPolicy(options.retry, 'jetStreamSink')
  const filter = partitions === undefined ? options.subject : `${options.subject}.*`
  const place = placement<R, K>(subjects.length, options.partitionBy)
  const encode = options.encode ?? ((row: R) => row)
  return {
    description: `JetStreamSink[${partitions === undefined ? options.subject : `${options.subject}.[0..${partitions - 1}]`}]`,
    async open(ctx) {
      const retrying = <T>(call: () => Promise<T>) => withRetry(connector, policy, isTransientNatsError, call)
      const client = await retrying(() => connectNats(options.servers))
      try {
        const stream = await retrying(() => streamOf(client, subjects))
        const { Kvm } = await import('@nats-io/kv')
        const bucket = options.markerBucket ?? 'structured-rx-batches'
        const kv = await retrying(() => new Kvm(client.js).create(bucket, { history: 1 }))
        const markers = new MarkerStore(kv, bucket, ctx.queryId, client, stream)
        const encoder = new TextEncoder()
        return {
          async addBatch(batchId, rows) {
            await retrying(async () => {
              const marker = await markers.read()
              if (marker.value.batchId >= batchId) return
              // Nothing stored after the marker's sequence, so nothing of this batch either: the listing would find
              // nothing. Otherwise an earlier try (a crashed run, a retry, or a writer that took the query over while
              // this one stalled) may have stored part of it, and the listing finds what.
              const clean = (await client.jsm.streams.info(stream)).state.last_seq === marker.value.seq
              const prefix = `${ctx.queryId}.${batchId}.`
              const sent = clean ? { ids: new Set<string>(), maxSeq: 0 } : await publishedSince(client, stream, filter, marker.value.seq, prefix)
              let maxSeq = Math.max(marker.value.seq, sent.maxSeq)
              const occurrences = new Map<string, number>()
              let inFlight: Promise<void>[] = []
              for (const row of rows) {
                const json = JSON.stringify(encode(row))
                const subject = subjects[place(row, json)]!
                const digest = createHash('sha256').update(subject).update('\n').update(json).digest('base64url').slice(0, 22)
                const n = occurrences.get(digest) ?? 0
                occurrences.set(digest, n + 1)
                const msgID = `${prefix}${digest}.${n}`
                if (sent.ids.has(msgID)) continue
                inFlight.push(
                  client.js.publish(subject, encoder.encode(json), { msgID }).then((ack) => {
                    if (ack.seq > maxSeq) maxSeq = ack.seq
                  }),
                )
                if (inFlight.length >= PUBLISH_WINDOW) {
                  await Promise.all(inFlight)
                  inFlight = []
                }
              }
              await Promise.all(inFlight)
              await markers.write(marker.revision, { batchId, seq: maxSeq })
            })
          },
          stop: () => client.nc.close(),
        }
      } catch (e) {
        await client.nc.close().catch(() => undefined)
        throw e
      }
    },
  }
}

/** The one stream that stores every subject; the sink's marker sequences are that stream's. */
async function streamOf(client: NatsClient, subjects: readonly string[]): Promise<string> {
  const streams = await Promise.all(subjects.map((s) => client.jsm.streams.find(s)))
  const distinct = [...new Set(streams)]
  if (distinct.length !== 1) {
    throw new Error(`jetStreamSink: subjects ${subjects.join(', ')} must all be stored by one stream, found ${distinct.join(', ')}`)
  }
  return distinct[0]!
}

/**
 * The message ids starting with `prefix` that were stored after sequence `afterSeq` on subjects matching `filter`, read
 * with a headers-only consumer (the payloads are not needed).
 */
async function publishedSince(
  client: NatsClient,
  stream: string,
  filter: string,
  afterSeq: number,
  prefix: string,
): Promise<{ ids: Set<string>; maxSeq: number }> {
  const ids = new Set<string>()
  let maxSeq = 0
  {
    const info = await client.jsm.consumers.add(stream, {
      filter_subject: filter,
      deliver_policy: client.DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
      ack_policy: client.AckPolicy.None,
      headers_only: true,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(60_000),
    })
    try {
      const consumer = await client.js.consumers.get(stream, info.name)
      let pending = info.num_pending
      while (pending > 0) {
        const want = Math.min(FETCH_CHUNK, pending)
        let got = 0
        for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
          got++
          const id = m.headers?.get('Nats-Msg-Id') ?? ''
          if (id.startsWith(prefix)) {
            ids.add(id)
            maxSeq = Math.max(maxSeq, m.seq)
          }
          if (got === want) break
        }
        if (got === 0) throw new Error(`jetStreamSink: listing ${filter} after sequence ${afterSeq} stalled`)
        pending -= got
      }
    } finally {
      client.jsm.consumers.delete(stream, info.name).catch(() => undefined)
    }
  }
  return { ids, maxSeq }
}

/** The query's commit marker in the KV bucket, created at the stream's current end on first use. */
class MarkerStore {
  constructor(
    private readonly kv: KV,
    private readonly bucket: string,
    private readonly queryId: string,
    private readonly client: NatsClient,
    private readonly stream: string,
  ) {}

  async read(): Promise<{ value: Marker; revision: number }> {
    const entry = await this.kv.get(this.queryId)
    if (entry !== null && entry.operation === 'PUT') {
      const decoded = Marker.decode(parsedOrUndefined(() => entry.json()))
      if (decoded._tag === 'Left') throw new Error(`jetStreamSink: marker ${this.queryId} in KV bucket ${this.bucket} is not a batch marker`)
      return { value: decoded.right, revision: entry.revision }
    }
    // Nothing of this query can be in the stream before its first marker, so the listing may start at its end.
    const info = await this.client.jsm.streams.info(this.stream)
    const value = { batchId: -1, seq: info.state.last_seq }
    const revision = await this.kv.create(this.queryId, JSON.stringify(value)).catch(async (e: unknown) => {
      const again = await this.kv.get(this.queryId)
      if (again === null) throw e
      return undefined
    })
    return revision === undefined ? this.read() : { value, revision }
  }

  async write(revision: number, value: Marker): Promise<void> {
    await this.kv.update(this.queryId, JSON.stringify(value), revision)
  }
}

/** The JSON a KV entry holds, or undefined when it holds no JSON (which the marker's codec then refuses). */
function parsedOrUndefined(json: () => unknown): unknown {
  try {
    return json()
  } catch {
    return undefined
  }
}
