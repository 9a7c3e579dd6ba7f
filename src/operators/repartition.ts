import type { Observable } from 'rxjs'
import { type Codec, type Operator, REPARTITION_VIA, type RepartitionTarget, withPlan } from '../plan/nodes.js'

/**
 * Partitions the stream by a key through a partitioned stream, the way Kafka Streams' repartition topics do: the query
 * is split where `repartition` stands. Part one reads the source, runs the operators before `repartition` and writes
 * every row exactly once into partition `hash(keyCodec.encode(keyOf(row))) mod P` of `via`; part two reads `via`
 * back as P partitions by that key and runs the rest of the chain as P tasks, so a `groupBy` of the same key after it
 * keeps its state per task. The rows themselves are unchanged (in plain RxJS it passes them through).
 * @example
 * session.readStream(jsonFiles('/data/clicks', { codec: Click }))
 *   .pipe(
 *     repartition((c) => c.user, t.string, { via: jetStreamPartitions({ servers, stream: 'BY_USER', subject: 'by-user', partitions: 8, codec: Click }) }),
 *     groupBy((c) => c.user, t.string),
 *     count(),
 *   )
 * Throws nothing itself; `start()` throws InvalidQueryError when `via` is not a partitioned stream, `repartition`
 * appears twice, an operator other than map, filter or flatMap stands before it, or no checkpointLocation is given.
 * With `parallelism`, part two's tasks run on worker threads; in a cluster, part one is one more leased task.
 */
export function repartition<T, K>(keyOf: (row: T) => K, keyCodec: Codec<K>, options: { readonly via: RepartitionTarget<T> }): Operator<T, T> {
  // Read loosely: from plain JavaScript (or past a cast) `via` may be anything, and start() says what it got.
  const via = options?.via as Partial<RepartitionTarget<T>> | undefined
  const name = via?.[REPARTITION_VIA]
  const description = typeof via?.description === 'string' ? via.description : String(via)
  // A function of its own: the plan node is attached to it, so it must not be shared (as rxjs' identity is).
  return withPlan((rows: Observable<T>) => rows, {
    kind: 'repartition',
    keyOf: keyOf as (row: never) => unknown,
    keyCodec,
    via: { name: typeof name === 'string' ? name : undefined, description },
  })
}
