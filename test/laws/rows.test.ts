import { describe, expect, it } from 'vitest'
import { canonical, comparisonFor, identityOf, resultDifference, sortByIdentity, upsertByIdentity } from '../../laws/index.js'

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

describe('resultDifference', () => {
  it('is undefined for the same rows in another order (multiset) or the same table in another order', () => {
    expect(resultDifference([1, 2, 2], [2, 1, 2], 'multiset')).toBeUndefined()
    expect(resultDifference([{ key: 'a', n: 1 }, { key: 'b', n: 2 }], [{ n: 2, key: 'b' }, { key: 'a', n: 1 }], 'table')).toBeUndefined()
  })

  it('counts each row of a multiset: a row emitted twice is an extra row', () => {
    expect(resultDifference([1, 2], [1, 2, 2], 'multiset')).toBe('1 difference:\n  + extra   2')
    expect(resultDifference([1, 1, 1, 2], [1, 2], 'multiset')).toBe('1 difference:\n  - missing 1 (2×)')
  })

  it('lists missing, extra and changed rows of a table by key and window', () => {
    const w = { start: 0, end: 10 }
    const difference = resultDifference(
      [{ key: 'a', window: w, n: 1 }, { key: 'b', window: w, n: 2 }],
      [{ key: 'a', window: w, n: 3 }, { key: 'c', window: w, n: 2 }],
      'table',
    )
    expect(difference).toBe(
      [
        '3 differences:',
        '  ~ ["a",{"end":10,"start":0}]: expected {"key":"a","n":1,"window":{"end":10,"start":0}}, actual {"key":"a","n":3,"window":{"end":10,"start":0}}',
        '  - missing {"key":"b","n":2,"window":{"end":10,"start":0}}',
        '  + extra   {"key":"c","n":2,"window":{"end":10,"start":0}}',
      ].join('\n'),
    )
  })

  it('reports a key that appears twice in a table, even with equal rows', () => {
    expect(resultDifference([{ key: 'a', n: 1 }], [{ key: 'a', n: 1 }, { key: 'a', n: 1 }], 'table')).toMatch(
      /! \["a",null\] appears 2× in the actual table/,
    )
  })

  it('compares rows without a key as a multiset beside the table', () => {
    expect(resultDifference([{ key: 'a' }, 7], [7, { key: 'a' }], 'table')).toBeUndefined()
    expect(resultDifference([{ key: 'a' }, 7], [{ key: 'a' }, 7, 7], 'table')).toMatch(/\+ extra   7/)
  })

  it('lists at most 12 differences and counts the rest', () => {
    const difference = resultDifference([], Array.from({ length: 20 }, (_, i) => i), 'multiset')!
    expect(difference.split('\n')).toHaveLength(14)
    expect(difference).toMatch(/^20 differences:/)
    expect(difference).toMatch(/… and 8 more$/)
  })

  it('compares append output as a multiset and update/complete output as a table', () => {
    expect([comparisonFor('append'), comparisonFor('update'), comparisonFor('complete')]).toEqual(['multiset', 'table', 'table'])
  })
})
