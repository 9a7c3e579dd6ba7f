import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { groupBy, max } from '../../src/index.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly x: number
}
type G = { key: string; value: Reading }

describe('max', () => {
  it("emits the group's largest f(row) so far after each row", () => {
    const rows: Reading[] = [{ device: 'd', x: 3 }, { device: 'd', x: 1 }, { device: 'd', x: 9 }, { device: 'e', x: -7 }]
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), max<G>((r) => r.x))).toEqual([
      { key: 'd', max: 3 },
      { key: 'd', max: 3 },
      { key: 'd', max: 9 },
      { key: 'e', max: -7 },
    ])
  })
})
