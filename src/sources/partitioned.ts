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
