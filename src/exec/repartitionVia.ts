/**
 * The partitioned streams `repartition` goes through: one descriptor names both the sink that part one writes with
 * (the connector's partitioned sink, placing rows by the repartition key) and the PartitionedSource part two reads
 * back (the same partitions, declared partitioned by the stable key hash).
 */
import type { RetryOptions } from '../durable/retry.js'
import { InvalidQueryError } from '../errors.js'
import { type Codec, REPARTITION_VIA, type RepartitionNode, type RepartitionTarget } from '../plan/nodes.js'
import { jetStreamSink } from '../sinks/jetStreamSink.js'
import type { PartitionBy } from '../sinks/placement.js'
import { redisStreamSink } from '../sinks/redisStreamSink.js'
import type { Sink } from '../sinks/sink.js'
import { jetStream } from '../sources/jetStream.js'
import type { PartitionedSource } from '../sources/partitioned.js'
import { redisStream } from '../sources/redisStream.js'
import { describeIoTsErrors, type IoTsErrorDescription } from '../util/ioTsErrors.js'

/**
 * A partitioned stream that `repartition` writes rows into by key and reads back as tasks.
 * @example const via: RepartitionVia<Click> = jetStreamPartitions({ servers, stream: 'BY_USER', subject: 'by-user', partitions: 8, codec: Click })
 */
export interface RepartitionVia<T> extends RepartitionTarget<T> {
  /** The number of partitions: the number of tasks of part two. */
  readonly partitions: number
  /** The sink part one writes with: every row into partition `hash(encode(key)) mod P`, idempotent per batch. */
  sink<K>(partitionBy: PartitionBy<T, K>): Sink<T>
  /** The partitions read back by part two, partitioned by the stable key hash. */
  source(): PartitionedSource<T>
}

/** Every partitioned stream built in this process (or worker thread), by the name its plan nodes carry. */
const built = new Map<string, RepartitionVia<unknown>>()
let builtCount = 0

/** Names a new partitioned stream and records it, so that a plan naming it finds it at start. */
function named<T>(via: Omit<RepartitionVia<T>, typeof REPARTITION_VIA>): RepartitionVia<T> {
  const name = `${via.description}#${++builtCount}`
  const stream: RepartitionVia<T> = { ...via, [REPARTITION_VIA]: name }
  built.set(name, stream as RepartitionVia<unknown>)
  return stream
}

/**
 * The partitioned stream a `repartition` node names, or undefined when it names none (what was given as `via` was not
 * built by jetStreamPartitions or redisStreamPartitions in this process).
 * @example const via = viaOf(split.node.via); if (via === undefined) throw new InvalidQueryError('via must be built with jetStreamPartitions')
 * @throws never.
 */
export function viaOf(ref: RepartitionNode['via']): RepartitionVia<unknown> | undefined {
  return ref.name === undefined ? undefined : built.get(ref.name)
}

/**
 * Options of `jetStreamPartitions`: where the repartitioned rows live (subjects `<subject>.0` … `<subject>.<P-1>` of
 * one stream, which must exist and hold `<subject>.*`) and how they are read back.
 * @example jetStreamPartitions({ servers: 'nats://127.0.0.1:4222', stream: 'BY_USER', subject: 'by-user', partitions: 8, codec: Click })
 */
export interface JetStreamPartitionsOptions<T> {
  readonly servers: string | readonly string[]
  readonly stream: string
  readonly subject: string
  readonly partitions: number
  readonly codec: Codec<T>
  /** At most this many messages per batch of one task (default: all available). */
  readonly maxMessagesPerTrigger?: number
  /** The KV bucket of the writer's commit markers (default `structured-rx-batches`). */
  readonly markerBucket?: string
  readonly retry?: RetryOptions
}

/**
 * Repartitions through JetStream: part one publishes with `jetStreamSink({ subject, partitions, partitionBy })`
 * (exactly once per batch by message ids and a marker), part two reads `jetStream({ …, partitionedBy: 'stableKeyHash' })`.
 * @example repartition((c: Click) => c.user, t.string, { via: jetStreamPartitions({ servers, stream: 'BY_USER', subject: 'by-user', partitions: 8, codec: Click }) })
 * @throws RangeError when `partitions` is not a positive integer.
 */
export function jetStreamPartitions<T>(options: JetStreamPartitionsOptions<T>): RepartitionVia<T> {
  const { servers, stream, subject, partitions, codec, retry } = options
  checkViaPartitions(partitions, 'jetStreamPartitions')
  const description = `JetStream[${stream}/${subject}.[0..${partitions - 1}]]`
  return named({
    description,
    partitions,
    codec,
    sink: (partitionBy) =>
      checkedRows(jetStreamSink({ servers, subject, partitions, partitionBy, encode: codec.encode, markerBucket: options.markerBucket, retry }), codec, description),
    source: () =>
      jetStream({ servers, stream, subject, partitions, partitionedBy: 'stableKeyHash', codec, maxMessagesPerTrigger: options.maxMessagesPerTrigger, retry }),
  })
}

/**
 * Options of `redisStreamPartitions`: the keys `<key>:0` … `<key>:<P-1>` that hold the repartitioned rows.
 * @example redisStreamPartitions({ url: 'redis://127.0.0.1:6379', key: 'by-user', partitions: 8, codec: Click })
 */
export interface RedisStreamPartitionsOptions<T> {
  readonly url: string
  readonly key: string
  readonly partitions: number
  readonly codec: Codec<T>
  /** At most this many entries per batch of one task (default: all available). */
  readonly maxEntriesPerTrigger?: number
  readonly retry?: RetryOptions
}

/**
 * Repartitions through Redis streams: part one appends with `redisStreamSink({ key, partitions, partitionBy })` (a
 * batch and its marker in one transaction), part two reads `redisStream({ …, partitionedBy: 'stableKeyHash' })`.
 * @example repartition((c: Click) => c.user, t.string, { via: redisStreamPartitions({ url, key: 'by-user', partitions: 8, codec: Click }) })
 * @throws RangeError when `partitions` is not a positive integer.
 */
export function redisStreamPartitions<T>(options: RedisStreamPartitionsOptions<T>): RepartitionVia<T> {
  const { url, key, partitions, codec, retry } = options
  checkViaPartitions(partitions, 'redisStreamPartitions')
  const description = `RedisStream[${key}:[0..${partitions - 1}]]`
  return named({
    description,
    partitions,
    codec,
    sink: (partitionBy) => checkedRows(redisStreamSink({ url, key, partitions, partitionBy, encode: codec.encode, retry }), codec, description),
    source: () => redisStream({ url, key, partitions, partitionedBy: 'stableKeyHash', codec, maxEntriesPerTrigger: options.maxEntriesPerTrigger, retry }),
  })
}

/**
 * Part one's sink, checking every row of a batch against `via`'s codec before any is written: a row part two could
 * not decode would otherwise be committed to `via` and fail part two on every restart.
 */
function checkedRows<T>(sink: Sink<T>, codec: Codec<T>, via: string): Sink<T> {
  return {
    description: sink.description,
    async open(ctx) {
      const writer = await sink.open(ctx)
      return {
        ...writer,
        addBatch: (batchId, rows) => {
          const bad = rows.findIndex((row) => !codec.is(row))
          if (bad < 0) return writer.addBatch(batchId, rows)
          const failure = misfit(codec, rows[bad])
          return Promise.reject(
            new InvalidQueryError(
              `batch ${batchId}: row ${bad + 1} of ${rows.length} does not fit the codec of ${via} at ` +
                `${failure.path} (${failure.message}; codec ${codec.name}), so nothing of the batch was written; make ` +
                'the rows before repartition values of that codec (a map) or give via a codec that fits them',
            ),
          )
        },
      }
    },
  }
}

/** Where a row that is not a value of `codec` differs from one: the path of its decode errors, else the root. */
function misfit<T>(codec: Codec<T>, row: unknown): IoTsErrorDescription {
  const decoded = codec.decode(row)
  if (decoded._tag === 'Left') {
    const description = describeIoTsErrors(decoded.left)
    return { path: description.path || '(root)', message: description.message }
  }
  return { path: '(root)', message: 'the row is in the stored form of the codec, not a value of it' }
}

function checkViaPartitions(partitions: number, what: string): void {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`${what}: partitions must be a positive integer (the number of tasks of the repartitioned part), got ${partitions}`)
  }
}
