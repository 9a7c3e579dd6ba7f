import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { agg, aggregate, avg, count, groupBy, map, max, min, type Operator, sum } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly x: number
}
type G = { key: string; value: Reading }
const rows: Reading[] = [{ device: 'd', x: 2 }, { device: 'd', x: 6 }]

describe('agg', () => {
  it('emits one row per input row with a column per named aggregation', () => {
    const op: Operator<G, object> = agg({ n: count(), total: sum((r) => r.x), lo: min((r) => r.x), hi: max((r) => r.x), mean: avg((r) => r.x) })
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), op)).toEqual([
      { key: 'd', n: 1, total: 2, lo: 2, hi: 2, mean: 2 },
      { key: 'd', n: 2, total: 8, lo: 2, hi: 6, mean: 4 },
    ])
  })

  it('names a custom aggregate column by its field in agg, not by the aggregate name', () => {
    const last = aggregate<G, number, number, 'last'>({ name: 'last', version: 1, state: t.number, zero: () => 0, add: (_s, r) => r.x, result: (s) => s })
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), agg({ latest: last })).at(-1)).toEqual({ key: 'd', latest: 6 })
  })

  it('keeps one state field per column', () => {
    const op: Operator<G, object> = agg({ n: count(), total: sum((r) => r.x) })
    const node = op[PLAN]
    if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(node.aggregator.zero()).toEqual({ n: 0, total: 0 })
    expect(node.aggregator.state.is({ n: 1, total: 2 })).toBe(true)
  })

  it('rejects an empty column record with a TypeError', () => {
    expect(() => agg({})).toThrow(TypeError)
  })

  it('rejects a column that is not a single aggregation with a TypeError naming it', () => {
    const notAnAggregation = map((g: G) => g) as never
    expect(() => agg({ odd: notAnAggregation })).toThrow(/column 'odd'/)
  })
})
