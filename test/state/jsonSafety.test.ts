import { describe, expect, it } from 'vitest'
import { jsonUnsafePath, prefixed } from '../../src/state/jsonSafety.js'

describe('jsonUnsafePath: where an encoded state or key stops reading back from JSON as itself', () => {
  it('finds nothing in plain JSON: strings, booleans, finite numbers, null, nested arrays and objects', () => {
    expect(jsonUnsafePath({ s: 'x', b: false, n: -1.5, z: null, list: [1, [2, { deep: 'y' }]], o: { p: 0 } }, '')).toBeUndefined()
    expect(jsonUnsafePath([], '')).toBeUndefined()
    expect(jsonUnsafePath(0, '')).toBeUndefined()
  })

  it('skips an object field that is undefined: JSON leaves it out, as an optional field of a codec expects', () => {
    expect(jsonUnsafePath({ a: undefined, b: 1 }, '')).toBeUndefined()
  })

  it('names NaN and ±Infinity with their path, or the value itself at the root', () => {
    expect(jsonUnsafePath(NaN, '')).toBe('the value is NaN')
    expect(jsonUnsafePath({ a: [1, Infinity] }, '')).toBe('.a[1] is Infinity')
    expect(jsonUnsafePath({ a: { b: -Infinity } }, '')).toBe('.a.b is -Infinity')
  })

  it('names an array element that is undefined (JSON writes null) and values JSON cannot write', () => {
    expect(jsonUnsafePath({ xs: [1, undefined] }, '')).toBe('.xs[1] is undefined')
    expect(jsonUnsafePath({ f: () => 1 }, '')).toBe('.f is a function')
    expect(jsonUnsafePath(10n, '')).toBe('the value is a bigint')
  })

  it('reports the first problem in order, under the path it is given', () => {
    expect(jsonUnsafePath({ a: 1, b: [NaN], c: Infinity }, '')).toBe('.b[0] is NaN')
    expect(jsonUnsafePath([{ ok: 1 }, { bad: NaN }], '.state')).toBe('.state[1].bad is NaN')
  })
})

describe('prefixed', () => {
  it('puts what a problem is about before it, and keeps no problem as none', () => {
    expect(prefixed('key', 'the value is NaN')).toBe('key: the value is NaN')
    expect(prefixed('key', undefined)).toBeUndefined()
  })
})
