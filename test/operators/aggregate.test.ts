import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { aggregate, groupBy } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Purchase {
  readonly user: string
  readonly amount: number
}
type G = { key: string; value: Purchase }
const Stats = t.type({ n: t.number, total: t.number })

const stats = () =>
  aggregate<G, t.TypeOf<typeof Stats>, number, 'mean'>({
    name: 'mean',
    version: 2,
    state: Stats,
    zero: () => ({ n: 0, total: 0 }),
    add: (s, p) => ({ n: s.n + 1, total: s.total + p.amount }),
    result: (s) => s.total / s.n,
  })

describe('aggregate', () => {
  it("emits { key, [name]: result(state) } after each row, folding the group's rows with add from zero()", () => {
    const purchases: Purchase[] = [{ user: 'u', amount: 4 }, { user: 'v', amount: 1 }, { user: 'u', amount: 8 }]
    expect(emitted(purchases, groupBy((p: Purchase) => p.user, t.string), stats())).toEqual([
      { key: 'u', mean: 4 },
      { key: 'v', mean: 1 },
      { key: 'u', mean: 6 },
    ])
  })

  it('carries an aggregate plan node with its name, version and state codec', () => {
    const node = stats()[PLAN]
    expect(node).toMatchObject({ kind: 'aggregate', name: 'mean', version: 2, migrations: [] })
    if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(node.aggregator.state).toBe(Stats)
  })

  it('rejects a version that is not a positive integer with a RangeError', () => {
    const spec = { name: 'x' as const, state: t.number, zero: () => 0, add: (s: number) => s, result: (s: number) => s }
    expect(() => aggregate<G, number, number, 'x'>({ ...spec, version: 0 })).toThrow(RangeError)
    expect(() => aggregate<G, number, number, 'x'>({ ...spec, version: 1.5 })).toThrow(RangeError)
  })

  it('names the aggregate and the bad version in the RangeError', () => {
    const spec = { name: 'x' as const, state: t.number, zero: () => 0, add: (s: number) => s, result: (s: number) => s }
    expect(() => aggregate<G, number, number, 'x'>({ ...spec, version: 0 })).toThrow(
      new RangeError("aggregate 'x': version must be a positive integer, got 0"),
    )
    expect(() => aggregate<G, number, number, 'x'>({ ...spec, version: 1.5 })).toThrow(
      new RangeError("aggregate 'x': version must be a positive integer, got 1.5"),
    )
  })

  it("is mergeable exactly when the spec gives merge: the plan node's aggregator merges as the spec does, or has no merge", () => {
    const withMerge = aggregate<G, number, number, 'total'>({
      name: 'total', version: 1, state: t.number, zero: () => 0, add: (s, p) => s + p.amount, merge: (a, b) => a + b, result: (s) => s,
    })[PLAN]
    if (withMerge.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(withMerge.aggregator.merge?.(3, 4)).toBe(7)
    const without = stats()[PLAN]
    if (without.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(without.aggregator.merge).toBeUndefined()
  })
})
