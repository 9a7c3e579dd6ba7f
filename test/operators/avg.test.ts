import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { avg, groupBy } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly x: number
}
type G = { key: string; value: Reading }

describe('avg', () => {
  it("emits the group's running { key, avg } of f(row) after each row", () => {
    const rows: Reading[] = [{ device: 'd', x: 1 }, { device: 'e', x: 10 }, { device: 'd', x: 4 }]
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), avg<G>((r) => r.x))).toEqual([
      { key: 'd', avg: 1 },
      { key: 'e', avg: 10 },
      { key: 'd', avg: 2.5 },
    ])
  })

  it('keeps { sum, count } as its state', () => {
    const node = avg<G>((r) => r.x)[PLAN]
    if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(node.aggregator.state.is({ sum: 3, count: 2 })).toBe(true)
    expect(node.aggregator.state.is(1.5)).toBe(false)
  })
})
