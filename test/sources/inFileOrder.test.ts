/**
 * InFileOrder on its own: however the reads of several files interleave, the consumer sees every block once, in file
 * order, and nothing after it has thrown.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InFileOrder } from '../../src/sources/inFileOrder.js'

describe('InFileOrder', () => {
  it('hands every block on in file order, whatever order the files are read in', () => {
    // Each file is a list of blocks; a schedule says which file takes its next step (a block, then its end).
    const files = fc.array(fc.array(fc.array(fc.nat(99), { maxLength: 3 }), { maxLength: 3 }), { minLength: 1, maxLength: 4 })
    fc.assert(
      fc.property(files, fc.array(fc.nat(), { maxLength: 40 }), (blocks, picks) => {
        const seen: number[][] = []
        const order = new InFileOrder<number>(blocks.length, (rows) => seen.push(rows))
        const next = blocks.map(() => 0)
        const step = (i: number) => {
          if (next[i]! < blocks[i]!.length) order.blockOf(i)(blocks[i]![next[i]!]!)
          else order.end(i)
          next[i]!++
        }
        const open = () => blocks.map((_, i) => i).filter((i) => next[i]! <= blocks[i]!.length)
        for (const p of picks) {
          const o = open()
          if (o.length > 0) step(o[p % o.length]!)
        }
        for (let o = open(); o.length > 0; o = open()) step(o[0]!)
        expect(seen).toEqual(blocks.flat())
        expect(order.rows).toBe(blocks.flat(2).length)
      }),
    )
  })

  it('holds a later file\'s blocks until every file before it ends, then hands them on at once', () => {
    const seen: string[][] = []
    const order = new InFileOrder<string>(3, (rows) => seen.push(rows))
    order.blockOf(2)(['c'])
    order.blockOf(1)(['b'])
    order.end(1)
    order.end(2)
    expect(seen).toEqual([])
    order.blockOf(0)(['a'])
    expect(seen).toEqual([['a']])
    order.end(0)
    expect(seen).toEqual([['a'], ['b'], ['c']])
    expect(order.rows).toBe(3)
  })

  it('throws what the consumer throws, from the block that reached it, and hands nothing on afterwards', () => {
    const seen: number[][] = []
    const order = new InFileOrder<number>(2, (rows) => {
      if (rows[0] === 1) throw new Error('full')
      seen.push(rows)
    })
    order.blockOf(1)([2])
    expect(() => order.blockOf(0)([1])).toThrow('full')
    order.blockOf(0)([3])
    order.end(0)
    expect(seen).toEqual([])
    expect(order.rows).toBe(1)
  })

  it('throws what the consumer throws from end, when held blocks are handed on there', () => {
    const order = new InFileOrder<number>(2, () => {
      throw new Error('no room')
    })
    order.blockOf(1)([5])
    expect(() => order.end(0)).toThrow('no room')
    expect(() => order.end(1)).not.toThrow()
  })
})
