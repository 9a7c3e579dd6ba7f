import type { Codec } from '../plan/nodes.js'
import { keyIdOf, partitionOf, stableHash } from '../util/keys.js'

/**
 * `partitionBy` of a partitioned sink: the key that places a row, and the codec whose encoded form is hashed.
 * @example const by: PartitionBy<Click, string> = [(c) => c.user, t.string]
 */
export type PartitionBy<R, K> = readonly [keyOf: (row: R) => K, keyCodec: Codec<K>]

/**
 * Which of `partitions` partitions a row goes to: with `partitionBy`, `hash(encode(key)) mod P` with the hash the
 * engine uses for state partitions (so stream partition p feeds the task or state partition p of a query grouping by
 * the same key); without it, a hash of the row's JSON.
 * @example const place = placement(4, [(r: Row) => r.key, t.string]); place(row, JSON.stringify(row)) // 0..3
 * @throws whatever `keyOf` or the codec throws, when called.
 */
export function placement<R, K>(partitions: number, partitionBy: PartitionBy<R, K> | undefined): (row: R, json: string) => number {
  if (partitions === 1 && partitionBy === undefined) return () => 0
  if (partitionBy === undefined) return (_, json) => stableHash(json) % partitions
  const [keyOf, keyCodec] = partitionBy
  return (row) => partitionOf(keyIdOf(keyCodec.encode(keyOf(row))), partitions)
}
