import type { Source } from './source.js'

/**
 * How a partitioned source was split: into `partitions` parts, either by the engine's stable key hash of a key
 * (`stableKeyHash`: a row with key k is in partition `partitionOf(keyIdOf(codec.encode(k)), partitions)`, what
 * `partitionBy` of the partitioned sinks writes) or in some other way (`unknown`: round robin, by producer, …).
 * @example const { partitions, by }: Partitioning = source.partitioning
 */
export interface Partitioning {
  readonly partitions: number
  readonly by: 'stableKeyHash' | 'unknown'
}

/**
 * A source made of P independent partitions, each a replayable source of its own (a JetStream subject `<s>.<p>`, a
 * Redis stream `<key>:<p>`, a directory `<dir>/<p>`). A query over it runs as P tasks: task p opens `partition(p)`.
 * @example const src = partitionedSource([jsonFiles('in/0', o), jsonFiles('in/1', o)], { by: 'stableKeyHash' })
 */
export interface PartitionedSource<T> {
  readonly description: string
  readonly kind: string
  readonly identity: string
  readonly partitioning: Partitioning
  /** Partition p as a source on its own; p is in [0, partitioning.partitions). */
  partition(p: number): Source<T>
}

/**
 * Whether a value given to `readStream` is a partitioned source.
 * @example if (isPartitioned(source)) runAsTasks(source)
 * @throws never.
 */
export function isPartitioned(source: unknown): source is PartitionedSource<unknown> {
  const s = source as Partial<PartitionedSource<unknown>> | undefined
  return typeof s?.partition === 'function' && typeof s.partitioning?.partitions === 'number'
}

/**
 * A partitioned source from one source per partition, in partition order.
 * @example partitionedSource([0, 1, 2, 3].map((p) => jsonFiles(`in/${p}`, { codec })), { by: 'stableKeyHash' })
 * @throws RangeError when `parts` is empty.
 */
export function partitionedSource<T>(parts: readonly Source<T>[], options: { readonly by: Partitioning['by'] }): PartitionedSource<T> {
  if (parts.length === 0) throw new RangeError('partitionedSource: give at least one partition')
  return {
    description: `Partitioned[${parts.length} × ${parts[0]!.description}]`,
    kind: `partitioned:${parts[0]!.kind}`,
    identity: parts.map((p) => p.identity).join(','),
    partitioning: { partitions: parts.length, by: options.by },
    partition(p) {
      const part = parts[p]
      if (part === undefined) throw new RangeError(`partitionedSource: no partition ${p} (there are ${parts.length})`)
      return part
    },
  }
}

/**
 * A partitioned connector's `PartitionedSource`: described as the whole log (`JetStream[S/s.[0..3]]`), each
 * partition a source of its own built by `partition`.
 * @example return partitionedLog(whole, 4, 'stableKeyHash', (p) => jetStreamOver(options, [`${subject}.${p}`]))
 * @throws RangeError from `partition(p)` for a p outside [0, partitions).
 */
export function partitionedLog<T>(
  whole: Source<T>,
  partitions: number,
  by: Partitioning['by'],
  partition: (p: number) => Source<T>,
): PartitionedSource<T> {
  return {
    description: whole.description,
    kind: whole.kind,
    identity: whole.identity,
    partitioning: { partitions, by },
    partition(p) {
      if (!Number.isInteger(p) || p < 0 || p >= partitions) throw new RangeError(`${whole.description}: no partition ${p} (there are ${partitions})`)
      return partition(p)
    },
  }
}

/**
 * Checks a connector's `partitionedBy` option: one of the `Partitioning['by']` values, and only with `partitions`.
 * @example const by = checkPartitionedBy(options.partitionedBy, partitions, 'jetStream')
 * @throws RangeError for another value, or when `partitions` is not given.
 */
export function checkPartitionedBy(by: unknown, partitions: number | undefined, what: string): Partitioning['by'] | undefined {
  if (by === undefined) return undefined
  if (by !== 'stableKeyHash' && by !== 'unknown') {
    throw new RangeError(`${what}: partitionedBy must be 'stableKeyHash' or 'unknown', got ${JSON.stringify(by)}`)
  }
  if (partitions === undefined) throw new RangeError(`${what}: partitionedBy needs partitions, the number of partitions the producer wrote`)
  return by
}
