import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  cutIntoBatches,
  finalWatermark,
  foldReference,
  planOf,
  type QueryUnderTest,
  resultShape,
  splitSeeds,
  splitsOf,
} from '../../laws/index.js'
import { count, filter, groupBy, map, withWatermark } from '../../src/index.js'

interface Click {
  readonly user: string
  readonly ts: number
}

describe('cutting input into micro-batches', () => {
  it('cuts at each position', () => {
    expect(cutIntoBatches([1, 2, 3, 4], [1, 3])).toEqual([[1], [2, 3], [4]])
  })

  it('makes empty batches at 0, at the end and at repeated positions', () => {
    expect(cutIntoBatches([1, 2], [0, 1, 1, 2])).toEqual([[], [1], [], [2], []])
  })

  it('sorts and clamps positions', () => {
    expect(cutIntoBatches([1, 2, 3], [9, -4, 2])).toEqual([[], [1, 2], [3], []])
  })

  it('keeps every row, in order, for any split', () => {
    fc.assert(
      fc.property(fc.array(fc.nat()), splitSeeds(), (rows, seeds) => {
        expect(cutIntoBatches(rows, splitsOf(seeds, rows.length)).flat()).toEqual(rows)
      }),
    )
  })

  it('turns cut seeds into sorted unique positions within the input', () => {
    expect(splitsOf([7, 2, 12, 2], 5)).toEqual([0, 1, 2])
    fc.assert(
      fc.property(splitSeeds(), fc.nat({ max: 50 }), (seeds, length) => {
        const splits = splitsOf(seeds, length)
        expect(splits).toEqual([...new Set(splits)].sort((a, b) => a - b))
        for (const s of splits) expect(s >= 0 && s <= length).toBe(true)
      }),
    )
  })

  it('cuts into at most maxBatches batches', () => {
    fc.assert(
      fc.property(splitSeeds(4), (seeds) => {
        expect(seeds.length).toBeLessThanOrEqual(3)
      }),
    )
  })
})

describe('the folded reference', () => {
  const counts = (outputMode: 'update' | 'complete'): QueryUnderTest<Click, unknown> => ({
    build: (s) => s.pipe(groupBy((c) => c.user, t.string), count()),
    outputMode,
  })
  const clicks: Click[] = [{ user: 'b', ts: 1 }, { user: 'a', ts: 2 }, { user: 'b', ts: 3 }]

  it('of an append query without aggregation is every reference emission, in order', () => {
    expect(foldReference({ build: (s) => s.pipe(map((c) => c.user)), outputMode: 'append' }, clicks)).toEqual(['b', 'a', 'b'])
  })

  it('of an update or complete query is the last emission per key, ordered by key', () => {
    const table = [{ key: 'a', count: 1 }, { key: 'b', count: 2 }]
    expect(foldReference(counts('update'), clicks)).toEqual(table)
    expect(foldReference(counts('complete'), clicks)).toEqual(table)
  })

  it('of a windowed append query keeps only the windows the final watermark closed', () => {
    const query: QueryUnderTest<Click, unknown> = {
      build: (s) =>
        s.pipe(withWatermark((c) => c.ts, 5), groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: 10 } }), count()),
      outputMode: 'append',
    }
    const rows: Click[] = [{ user: 'a', ts: 1 }, { user: 'a', ts: 8 }, { user: 'a', ts: 12 }, { user: 'a', ts: 16 }]
    expect(foldReference(query, rows)).toEqual([{ key: 'a', window: { start: 0, end: 10 }, count: 2 }])
  })

  it('computes the final watermark from the rows that reach withWatermark, never below epoch 0', () => {
    const query: QueryUnderTest<Click, unknown> = {
      build: (s) => s.pipe(filter((c) => c.user !== 'late'), withWatermark((c) => c.ts, 10), map((c) => c)),
      outputMode: 'append',
    }
    const { nodes, operators } = planOf(query)
    expect(finalWatermark(nodes, operators, [{ user: 'a', ts: 30 }, { user: 'late', ts: 99 }])).toBe(20)
    expect(finalWatermark(nodes, operators, [{ user: 'a', ts: 3 }])).toBe(0)
    expect(finalWatermark(nodes, operators, [])).toBe(0)
  })

  it('tells the result shape from the output mode and the plan', () => {
    const stateless: QueryUnderTest<Click, Click> = { build: (s) => s.pipe(map((c) => c)), outputMode: 'append' }
    expect(resultShape('append', planOf(stateless).nodes)).toBe('stream')
    expect(resultShape('update', planOf(counts('update')).nodes)).toBe('table')
    expect(resultShape('append', planOf(counts('update')).nodes)).toBe('closedWindows')
  })
})
