import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { groupBy, sum } from '../../src/index.js'
import { emitted } from './reference.js'

interface Sale {
  readonly shop: string
  readonly amount: number
}
type G = { key: string; value: Sale }

describe('sum', () => {
  it("emits the group's running { key, sum } of f(row) after each row", () => {
    const sales: Sale[] = [{ shop: 'x', amount: 2 }, { shop: 'y', amount: 5 }, { shop: 'x', amount: 0.5 }]
    expect(emitted(sales, groupBy((s: Sale) => s.shop, t.string), sum<G>((s) => s.amount))).toEqual([
      { key: 'x', sum: 2 },
      { key: 'y', sum: 5 },
      { key: 'x', sum: 2.5 },
    ])
  })

  it('adds in arrival order, so floating-point results are those of a left fold', () => {
    const sales: Sale[] = [0.1, 0.2, 0.3].map((amount) => ({ shop: 'x', amount }))
    const last = emitted<{ sum: number }>(sales, groupBy((s: Sale) => s.shop, t.string), sum<G>((s) => s.amount)).at(-1)
    expect(last?.sum).toBe(0.1 + 0.2 + 0.3)
  })
})
