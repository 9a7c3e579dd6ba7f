import { describe, expect, it } from 'vitest'
import { filter } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

describe('filter', () => {
  it('emits only the rows for which the predicate is true, in order', () => {
    expect(emitted([1, 2, 3, 4], filter((x: number) => x % 2 === 0))).toEqual([2, 4])
  })

  it('keeps rows on a truthy, not only a true, result of the predicate (as RxJS does)', () => {
    const truthy = ((x: { tag?: string }) => x.tag) as unknown as (x: { tag?: string }) => boolean
    expect(emitted([{ tag: 'a' }, {}], filter(truthy))).toEqual([{ tag: 'a' }])
  })

  it('carries a filter plan node holding the predicate', () => {
    const p = (x: number) => x > 0
    expect(filter(p)[PLAN]).toEqual({ kind: 'filter', fn: p })
  })
})
