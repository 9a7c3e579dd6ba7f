import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { dropDuplicates } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Event {
  readonly id: string
  readonly ts: number
}

describe('dropDuplicates', () => {
  it('emits only the first row of each key, in order', () => {
    const events: Event[] = [{ id: 'a', ts: 1 }, { id: 'b', ts: 2 }, { id: 'a', ts: 3 }, { id: 'c', ts: 4 }]
    expect(emitted(events, dropDuplicates((e: Event) => e.id, t.string))).toEqual([events[0], events[1], events[3]])
  })

  it('compares keys by value: object keys with the same fields in another order are the same key', () => {
    const keyOf = (e: { k: { a: number; b: number } }) => e.k
    const codec = t.type({ a: t.number, b: t.number })
    expect(emitted([{ k: { a: 1, b: 2 } }, { k: { b: 2, a: 1 } }], dropDuplicates(keyOf, codec))).toHaveLength(1)
  })

  it('in the reference semantics, drops duplicates whatever their event time, also with within', () => {
    const events: Event[] = [{ id: 'a', ts: 0 }, { id: 'a', ts: 1e12 }]
    expect(emitted(events, dropDuplicates((e: Event) => e.id, t.string, { within: (e) => e.ts }))).toEqual([events[0]])
  })

  it('rejects a key that does not match its codec in the reference semantics, naming dropDuplicates', () => {
    const keyOf = (e: { id: unknown }) => e.id as string
    expect(() => emitted([{ id: 'a' }, { id: null }], dropDuplicates(keyOf, t.string))).toThrow(
      new TypeError('dropDuplicates: key null does not match the key codec string'),
    )
  })

  it('forgets the keys it has seen when subscribed again', () => {
    const op = dropDuplicates((e: Event) => e.id, t.string)
    expect(emitted([{ id: 'a', ts: 1 }], op)).toHaveLength(1)
    expect(emitted([{ id: 'a', ts: 1 }], op)).toHaveLength(1)
  })

  it("carries a dropDuplicates plan node named 'dropDuplicates' unless given a name", () => {
    expect(dropDuplicates((e: Event) => e.id, t.string)[PLAN]).toMatchObject({ kind: 'dropDuplicates', name: 'dropDuplicates' })
    expect(dropDuplicates((e: Event) => e.id, t.string, { name: 'dedup' })[PLAN]).toMatchObject({ name: 'dedup' })
  })
})
