/**
 * placement: which partition of a partitioned sink (JetStream, Redis streams) a row goes to. With `partitionBy` it
 * must agree with the engine's own state partitions (golden values in test/exec/partitioning.test.ts), so a query
 * grouping by the same key reads partition p as its task p; without it rows spread by their JSON.
 */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { placement } from '../../src/sinks/placement.js'
import { StateStore } from '../../src/state/stateStore.js'
import { keyIdOf } from '../../src/util/keys.js'

type Click = { user: string; page: number }
const users = ['sit', 'walk', 'stand', 'bike', 'null']

describe('placement', () => {
  it('puts every row in partition 0 of a single-partition sink', () => {
    const place = placement<Click, string>(1, undefined)
    for (const user of users) expect(place({ user, page: 1 }, JSON.stringify({ user, page: 1 }))).toBe(0)
  })

  it('reads the key of every row even with a single partition, so what keyOf throws still reaches the writer', () => {
    const place = placement<Click, string>(1, [
      (c) => {
        if (c.user === '') throw new TypeError('a click without a user')
        return c.user
      },
      t.string,
    ])
    expect(place({ user: 'sit', page: 1 }, '{}')).toBe(0)
    expect(() => place({ user: '', page: 1 }, '{}')).toThrow('a click without a user')
  })

  it('places a row by its key in the state partition a query grouping by that key keeps it in, whatever else the row holds', () => {
    const place = placement<Click, string>(8, [(c) => c.user, t.string])
    // The engine's partitions of these keys, pinned in test/exec/partitioning.test.ts: sit 7, walk 0, stand 3, bike 0, null 4.
    expect(users.map((user) => place({ user, page: 1 }, JSON.stringify({ user, page: 1 })))).toEqual([7, 0, 3, 0, 4])
    const store = new StateStore('count', 8, t.string, t.number)
    for (const user of users) {
      const partition = store.put(keyIdOf(user), user, undefined, 1).partition
      for (const page of [1, 2, 3]) expect(place({ user, page }, JSON.stringify({ user, page }))).toBe(partition)
    }
  })

  it('hashes the key as its codec encodes it', () => {
    // A number key encoded as text lands where the string key does, not where the number would.
    const asText = new t.Type<number, string, unknown>('NumberAsText', t.number.is, (u, c) => t.number.validate(u, c), (n) => String(n))
    const byText = placement<{ n: number }, number>(8, [(r) => r.n, asText])
    const byNumber = placement<{ n: number }, number>(8, [(r) => r.n, t.number])
    const text = placement<{ s: string }, string>(8, [(r) => r.s, t.string])
    expect(byNumber({ n: 42 }, '{"n":42}')).toBe(1)
    expect(byText({ n: 42 }, '{"n":42}')).toBe(text({ s: '42' }, '{"s":"42"}'))
    expect(byText({ n: 42 }, '{"n":42}')).not.toBe(byNumber({ n: 42 }, '{"n":42}'))
  })

  it('without partitionBy, spreads rows over every partition by a hash of their JSON, the same JSON to the same one', () => {
    const place = placement<Click, string>(4, undefined)
    const rows = Array.from({ length: 200 }, (_, i) => ({ user: `u${i % 3}`, page: i }))
    const partitions = rows.map((r) => place(r, JSON.stringify(r)))
    expect(new Set(partitions)).toEqual(new Set([0, 1, 2, 3]))
    // The JSON decides, not the row object: one JSON text always goes to one partition.
    expect(rows.map((r) => place({ user: 'other', page: -1 }, JSON.stringify(r)))).toEqual(partitions)
  })
})
