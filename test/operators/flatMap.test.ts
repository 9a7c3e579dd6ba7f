import { describe, expect, it } from 'vitest'
import { flatMap } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

describe('flatMap', () => {
  it('emits every element f(row) returns, row after row, in order', () => {
    expect(emitted(['a b', 'c'], flatMap((line: string) => line.split(' ')))).toEqual(['a', 'b', 'c'])
  })

  it('emits nothing for a row that maps to an empty array', () => {
    expect(emitted([0, 2], flatMap((n: number) => Array.from({ length: n }, (_, i) => i)))).toEqual([0, 1])
  })

  it('accepts any iterable, such as a generator', () => {
    function* twice(x: number) {
      yield x
      yield x
    }
    expect(emitted([1, 2], flatMap(twice))).toEqual([1, 1, 2, 2])
  })

  it('carries a flatMap plan node holding the function', () => {
    const f = (x: number) => [x]
    expect(flatMap(f)[PLAN]).toEqual({ kind: 'flatMap', fn: f })
  })
})
