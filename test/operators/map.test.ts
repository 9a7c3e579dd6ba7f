import { describe, expect, it } from 'vitest'
import { map } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

describe('map', () => {
  it('emits f(row) for every row, in order', () => {
    expect(emitted([1, 2, 3], map((x: number) => x * 10))).toEqual([10, 20, 30])
  })

  it('emits nothing for no rows', () => {
    expect(emitted([], map((x: number) => x))).toEqual([])
  })

  it('carries a map plan node holding the same function', () => {
    const f = (x: number) => x + 1
    expect(map(f)[PLAN]).toEqual({ kind: 'map', fn: f })
  })

  it('errors the RxJS stream with what f throws', () => {
    const boom = new Error('boom')
    expect(() =>
      emitted(
        [1],
        map(() => {
          throw boom
        }),
      ),
    ).toThrow(boom)
  })
})
