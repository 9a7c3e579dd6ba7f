import { describe, expect, it } from 'vitest'
import { canonical, firstDifference, identityOf, sortByIdentity, upsertByIdentity } from '../../laws/index.js'

describe('canonical', () => {
  it('sorts object fields, so field order does not matter', () => {
    expect(canonical({ b: 1, a: { d: 2, c: 3 } })).toBe(canonical({ a: { c: 3, d: 2 }, b: 1 }))
  })

  it('leaves out undefined fields, as JSON does', () => {
    expect(canonical({ a: 1, b: undefined })).toBe('{"a":1}')
  })

  it('spells out NaN and infinities instead of turning them into null', () => {
    expect(canonical([NaN, Infinity, -Infinity, null])).toBe('[NaN,Infinity,-Infinity,null]')
  })

  it('reads -0 as 0, as persisted state does', () => {
    expect(canonical(-0)).toBe(canonical(0))
  })

  it('uses toJSON where a value has it (dates)', () => {
    expect(canonical(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"')
  })
})

describe('result-table identity', () => {
  it('identifies a row by its key and window', () => {
    expect(identityOf({ key: 'a', window: { end: 10, start: 0 }, count: 1 })).toBe('["a",{"end":10,"start":0}]')
    expect(identityOf({ key: 'a', count: 1 })).toBe('["a",null]')
  })

  it('gives no identity to a row without a key', () => {
    expect(identityOf({ user: 'a' })).toBeUndefined()
    expect(identityOf(3)).toBeUndefined()
  })

  it('upserts later rows over earlier rows of the same identity and keeps every keyless row', () => {
    expect(upsertByIdentity([{ key: 'a', n: 1 }, 7, { key: 'b', n: 1 }, { key: 'a', n: 2 }, 7])).toEqual([
      { key: 'a', n: 2 },
      { key: 'b', n: 1 },
      7,
      7,
    ])
  })

  it('sorts rows by identity, then by content, so tables compare as multisets', () => {
    expect(sortByIdentity([{ key: 'b' }, { key: 'a', n: 2 }, { key: 'a', n: 1 }])).toEqual([
      { key: 'a', n: 1 },
      { key: 'a', n: 2 },
      { key: 'b' },
    ])
  })
})

describe('firstDifference', () => {
  it('is undefined for equal rows', () => {
    expect(firstDifference([{ a: 1 }], [{ a: 1 }])).toBeUndefined()
  })

  it('names the first row that differs', () => {
    expect(firstDifference([1, 2], [1, 3])).toBe('row 1: expected 2, actual 3')
  })

  it('names missing and extra rows', () => {
    expect(firstDifference([1, 2], [1])).toMatch(/row 1: expected 2, but the engine produced no more rows/)
    expect(firstDifference([1], [1, 2])).toMatch(/row 1: the engine produced the extra row 2/)
  })
})
