import { map as rxMap } from 'rxjs'
import { type Operator, withPlan } from '../plan/nodes.js'

/**
 * Transforms every row. Stateless: consecutive stateless operators fuse into one per-batch loop.
 * @example stream.pipe(map((r) => ({ ...r, total: r.price * r.qty })))
 * Throws nothing itself; an exception from `fn` fails the query with a StreamingQueryError naming `map`.
 */
export function map<A, B>(fn: (row: A) => B): Operator<A, B> {
  return withPlan(
    rxMap((row: A) => fn(row)),
    { kind: 'map', fn: fn as (row: never) => unknown },
  )
}
