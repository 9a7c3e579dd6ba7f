import * as t from 'io-ts'
import type { Aggregator } from '../../plan/nodes.js'

/** The shared body of `min` and `max`: keeps the best value seen, `null` before the first row. */
export function extremum<T>(
  name: 'min' | 'max',
  f: (row: T) => number,
  better: (candidate: number, current: number) => boolean,
): Aggregator<T, number | null, number | null> {
  const pick = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : better(b, a) ? b : a)
  return {
    name,
    version: 1,
    state: t.union([t.number, t.null]),
    zero: () => null,
    add: (s, row) => pick(s, f(row)),
    merge: pick,
    result: (s) => s,
  }
}
