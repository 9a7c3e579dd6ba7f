/**
 * The built-in aggregations are mergeable, as `Aggregator` promises: the aggregator on an aggregation's plan node
 * (`op[PLAN].aggregator`) folds rows with `zero`/`add`, and its `merge` combines the states of two parts of a group's
 * rows into the state of all of them, an empty part included.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { avg, count, max, min, type Operator, sum } from '../../src/index.js'
import { type Aggregator, PLAN } from '../../src/plan/nodes.js'

type Row = { readonly x: number }
type G = { key: string; value: Row }

const builtIns: readonly (readonly [string, () => Operator<G, object>])[] = [
  ['count()', () => count<G>()],
  ['sum(f)', () => sum<G>((r) => r.x)],
  ['avg(f)', () => avg<G>((r) => r.x)],
  ['min(f)', () => min<G>((r) => r.x)],
  ['max(f)', () => max<G>((r) => r.x)],
]

function aggregatorOf(op: Operator<G, object>): Aggregator<unknown, unknown, Record<string, unknown>> {
  const node = op[PLAN]
  if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
  return node.aggregator
}

const fold = (a: Aggregator<unknown, unknown, Record<string, unknown>>, rows: readonly Row[]) => rows.reduce<unknown>((s, r) => a.add(s, r), a.zero())

describe('the built-in aggregations are mergeable', () => {
  it.each(builtIns)('%s: merging the states of two parts of the rows gives the result of all rows', (_name, make) => {
    const a = aggregatorOf(make())
    if (a.merge === undefined) throw new Error('no merge')
    const merge = a.merge.bind(a)
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }).map((x) => ({ x }))), fc.nat(), (rows, at) => {
        const cut = rows.length === 0 ? 0 : at % (rows.length + 1)
        const left = fold(a, rows.slice(0, cut))
        const right = fold(a, rows.slice(cut))
        expect(a.result(merge(left, right))).toEqual(a.result(fold(a, rows)))
      }),
    )
  })

  it('merges a group with an empty part (the zero state) into that group, for negative and positive values alike', () => {
    const rows = [{ x: -3 }, { x: -5 }]
    const positive = [{ x: 4 }, { x: 2 }]
    const expected: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
      'count()': [{ count: 2 }, { count: 2 }],
      'sum(f)': [{ sum: -8 }, { sum: 6 }],
      'avg(f)': [{ avg: -4 }, { avg: 3 }],
      'min(f)': [{ min: -5 }, { min: 2 }],
      'max(f)': [{ max: -3 }, { max: 4 }],
    }
    for (const [name, make] of builtIns) {
      const a = aggregatorOf(make())
      const merge = a.merge!.bind(a)
      for (const [i, part] of [rows, positive].entries()) {
        const s = fold(a, part)
        expect([name, a.result(merge(s, a.zero()))]).toEqual([name, expected[name]![i]])
        expect([name, a.result(merge(a.zero(), s))]).toEqual([name, expected[name]![i]])
      }
    }
  })
})
