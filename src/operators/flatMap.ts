import { mergeMap } from 'rxjs'
import { type Operator, withPlan } from '../plan/nodes.js'

/**
 * Turns every row into zero or more rows (an array or any iterable). Stateless.
 * @example stream.pipe(flatMap((line) => line.words))
 */
export function flatMap<A, B>(fn: (row: A) => Iterable<B>): Operator<A, B> {
  return withPlan(
    mergeMap((row: A) => Array.from(fn(row))),
    { kind: 'flatMap', fn: fn as (row: never) => unknown },
  )
}
