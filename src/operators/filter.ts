import { filter as rxFilter } from 'rxjs'
import { type Operator, withPlan } from '../plan/nodes.js'

/**
 * Keeps the rows for which `predicate` is true. Stateless.
 * @example stream.pipe(filter((r) => r.gt !== 'null'))
 */
export function filter<A, B extends A>(predicate: (row: A) => row is B): Operator<A, B>
export function filter<A>(predicate: (row: A) => boolean): Operator<A, A>
export function filter<A>(predicate: (row: A) => boolean): Operator<A, A> {
  return withPlan(
    rxFilter((row: A) => predicate(row)),
    { kind: 'filter', fn: predicate as (row: never) => unknown },
  )
}
