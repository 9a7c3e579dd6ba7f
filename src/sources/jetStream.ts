import type { Codec } from '../plan/nodes.js'
import { checkPartitions } from '../util/partitions.js'
import { connectNats, isTransientNatsError, nanos, type NatsClient } from '../durable/natsClient.js'
import { type LogEntry, type LogSourceOptions, logSource, type PartitionedLog } from './logSource.js'
import { checkPartitionedBy, partitionedLog, type PartitionedSource, type Partitioning } from './partitioned.js'
import type { Source } from './source.js'

/**
 * Options of `jetStream`.
 * @example jetStream({ servers: 'nats://127.0.0.1:4222', stream: 'EVENTS', subject: 'events', codec: Event, partitions: 4, maxMessagesPerTrigger: 10_000 })
 */
export interface JetStreamOptions<T> extends LogSourceOptions<T> {
  /** One server URL or several, e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[]
  /** The stream that stores the subject(s); it must exist. */
  readonly stream: string
  /** The subject, or with `partitions` the prefix of the partition subjects `<subject>.<p>`. */
  readonly subject: string
  readonly codec: Codec<T>
  /** Read `<subject>.0` … `<subject>.<P-1>` as P partitions, one sequence each in the offset. */
  readonly partitions?: number
  /**
   * How the producer split the partitions: `'stableKeyHash'` when it placed each row with `partitionBy` of a key
   * (e.g. `jetStreamSink({ …, partitions, partitionBy })`), `'unknown'` for any other split. Given, the source is a
   * `PartitionedSource`: a query over it runs as P tasks (a stateful one only over `'stableKeyHash'`). Left out, the
   * P subjects are read as one source, as before.
   */
  readonly partitionedBy?: Partitioning['by']
  /** At most this many messages per micro-batch over all partitions (default: all available). */
  readonly maxMessagesPerTrigger?: number
}

/** Messages asked for in one pull request. */
const FETCH_CHUNK = 10_000

/**
 * Reads a NATS JetStream subject (or P partition subjects) as a stream. Offsets are stream sequences, one per
 * partition subject: a batch is the sequence range `(start, end]` of each, re-read exactly on a re-run through a
 * short-lived consumer that starts at `start + 1` and stops at `end`. A message's data is the row as UTF-8 JSON.
 * With `partitions` and `partitionedBy` it is a `PartitionedSource` instead: a query over it runs as P tasks, task p
 * reading `<subject>.<p>` alone; without `partitionedBy` the P subjects are read as one source.
 * @example session.readStream(jetStream({ servers: 'nats://127.0.0.1:4222', stream: 'ORDERS', subject: 'orders', partitions: 4, codec: Order }))
 * @example session.readStream(jetStream({ servers, stream: 'ORDERS', subject: 'orders', partitions: 4, partitionedBy: 'stableKeyHash', codec: Order })) // 4 tasks
 * Fails the query with BadMessageError (stream, subject, sequence, codec path) on a bad message unless `badRecords`
 * is set, and with ConnectorUnavailableError when the server stays unreachable through `retry`.
 * @throws RangeError on a bad `partitions`, `maxMessagesPerTrigger` or `partitionedBy`, or `partitionedBy` without `partitions`.
 */
export function jetStream<T>(options: JetStreamOptions<T> & { readonly partitions: number; readonly partitionedBy: Partitioning['by'] }): PartitionedSource<T>
export function jetStream<T>(options: JetStreamOptions<T>): Source<T>
export function jetStream<T>(options: JetStreamOptions<T>): Source<T> | PartitionedSource<T> {
  const partitions = checkPartitions(options.partitions, 'jetStream')
  const by = checkPartitionedBy(options.partitionedBy, partitions, 'jetStream')
  const subjectOf = (p: number) => `${options.subject}.${p}`
  if (partitions === undefined) return jetStreamOver(options, [options.subject], options.subject, `${options.stream}/${options.subject}`)
  const whole = jetStreamOver(
    options,
    Array.from({ length: partitions }, (_, p) => subjectOf(p)),
    `${options.subject}.[0..${partitions - 1}]`,
    `${options.stream}/${options.subject}.*`,
  )
  if (by === undefined) return whole
  return partitionedLog(whole, partitions, by, (p) => jetStreamOver(options, [subjectOf(p)], subjectOf(p), `${options.stream}/${subjectOf(p)}`))
}

/** The source over some subjects of the stream, read as one: each subject a partition of its offset. */
function jetStreamOver<T>(options: JetStreamOptions<T>, subjects: readonly string[], shown: string, identity: string): Source<T> {
  const servers = typeof options.servers === 'string' ? options.servers : options.servers.join(',')
  return logSource(
    {
      description: `JetStream[${options.stream}/${shown}]`,
      kind: 'jetStream',
      identity,
      connector: `nats-server ${servers}`,
      maxPerTrigger: options.maxMessagesPerTrigger,
      maxOptionName: 'maxMessagesPerTrigger',
      isTransient: isTransientNatsError,
      open: async (_, retrying) => {
        const client = await retrying(() => connectNats(options.servers))
        try {
          await retrying(() => client.jsm.streams.info(options.stream))
        } catch (e) {
          await client.nc.close()
          throw new Error(`jetStream: stream ${options.stream} is not available on ${servers}: ${(e as Error).message}`, { cause: e })
        }
        return jetStreamLog(client, options.stream, subjects)
      },
    },
    options,
  )
}

function jetStreamLog(client: NatsClient, stream: string, subjects: readonly string[]): PartitionedLog {
  const { js, jsm, AckPolicy, DeliverPolicy } = client
  return {
    partitions: subjects,
    initialPosition: 0,
    describe: (p) => `stream ${stream} subject ${subjects[p]}`,
    async latestPosition(p, after) {
      const last = await jsm.streams.getMessage(stream, { last_by_subj: subjects[p]! })
      return last === null ? after : Math.max(last.seq, after as number)
    },
    async readRange(p, after, end, max) {
      const from = (after as number) + 1
      const to = end as number
      if (from > to || max <= 0) return []
      const info = await jsm.consumers.add(stream, {
        filter_subject: subjects[p]!,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: from,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(60_000),
      })
      try {
        const consumer = await js.consumers.get(stream, info.name)
        const entries: LogEntry[] = []
        let pending = info.num_pending
        let done = false
        while (!done && pending > 0 && entries.length < max) {
          const want = Math.min(FETCH_CHUNK, pending, max - entries.length)
          let got = 0
          for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
            got++
            if (m.seq > to) {
              done = true
              break
            }
            entries.push({ position: m.seq, text: m.string() })
            if (m.seq === to || got === want) break
          }
          if (got === 0) throw new Error(`jetStream: no message arrived from ${subjects[p]} after sequence ${after}`)
          if (entries.length > 0 && entries[entries.length - 1]!.position === to) done = true
          pending -= got
        }
        return entries
      } finally {
        jsm.consumers.delete(stream, info.name).catch(() => undefined)
      }
    },
    close: () => client.nc.close(),
  }
}
