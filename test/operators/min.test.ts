import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { groupBy, min } from '../../src/index.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly x: number
}
type G = { key: string; value: Reading }

describe('min', () => {
  it("emits the group's smallest f(row) so far after each row", () => {
    const rows: Reading[] = [{ device: 'd', x: 3 }, { device: 'd', x: 5 }, { device: 'd', x: -1 }, { device: 'e', x: 7 }]
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), min<G>((r) => r.x))).toEqual([
      { key: 'd', min: 3 },
      { key: 'd', min: 3 },
      { key: 'd', min: -1 },
      { key: 'e', min: 7 },
    ])
  })
})
