import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { exactlyOnceUnderCrashes, exactlyOnceUnderCrashesHolds } from '../../laws/exactlyOnce.js'
import type { QueryUnderTest } from '../../laws/query.js'
import { count, dropDuplicates, foreachBatch, filter, groupBy, map, mapGroupsWithState, type Stream, withWatermark } from '../../src/index.js'

type Row = { k: string; v: number }
const row = fc.record({ k: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer({ min: 0, max: 50 }) })
const rows = fc.array(row, { maxLength: 14 })

const stateless: QueryUnderTest<Row, Row> = {
  build: (s: Stream<Row>) => s.pipe(filter((r) => r.v % 3 !== 0), map((r) => ({ k: r.k.toUpperCase(), v: r.v * 2 }))),
  outputMode: 'append',
}
const counts: QueryUnderTest<Row, { key: string; count: number }> = {
  build: (s: Stream<Row>) => s.pipe(groupBy((r) => r.k, t.string), count()),
  outputMode: 'update',
}
const completeCounts: QueryUnderTest<Row, { key: string; count: number }> = { ...counts, outputMode: 'complete' }
const windowed: QueryUnderTest<Row, unknown> = {
  build: (s: Stream<Row>) =>
    s.pipe(withWatermark((r) => r.v, 5), groupBy((r) => r.k, t.string, { window: { time: (r) => r.v, size: 10 } }), count()),
  outputMode: 'append',
}
const dedup: QueryUnderTest<Row, Row> = { build: (s: Stream<Row>) => s.pipe(dropDuplicates((r) => r.k, t.string)), outputMode: 'append' }
const sessions: QueryUnderTest<Row, unknown> = {
  build: (s: Stream<Row>) =>
    s.pipe(
      groupBy((r) => r.k, t.string),
      mapGroupsWithState({
        name: 'total',
        version: 1,
        state: t.number,
        update: (_k, rs, st) => {
          const total = (st.getOption() ?? 0) + rs.reduce((a, r) => a + r.v, 0)
          st.update(total)
          return total
        },
      }),
    ),
  outputMode: 'update',
}

const RUNS = 25
describe('exactlyOnceUnderCrashes', () => {
  it('holds for a stateless append query into a memory sink', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: stateless, input: rows }), { numRuns: RUNS })
  })
  it('holds for a stateless append query into a JSON files sink', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: stateless, input: rows, sink: 'jsonFiles' }), { numRuns: RUNS })
  })
  it('holds for a stateful update count into foreachBatch', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: counts, input: rows, sink: 'foreachBatch' }), { numRuns: RUNS })
  })
  it('holds for a complete-mode count into a memory sink', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: completeCounts, input: rows }), { numRuns: RUNS })
  })
  it('holds for windowed counts in append mode with a watermark', async () => {
    const ordered = rows.map((rs) => [...rs].sort((a, b) => a.v - b.v))
    await fc.assert(exactlyOnceUnderCrashes({ query: windowed, input: ordered, sink: 'jsonFiles' }), { numRuns: RUNS })
  })
  it('holds for dropDuplicates', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: dedup, input: rows }), { numRuns: RUNS })
  })
  it('holds for mapGroupsWithState', async () => {
    await fc.assert(exactlyOnceUnderCrashes({ query: sessions, input: rows, sink: 'foreachBatch' }), { numRuns: RUNS })
  })
  it('fails for a sink that is not idempotent by batchId', async () => {
    // Appends every delivered batch, replays included: exactly what the law must catch.
    const appending = () => {
      const delivered: unknown[] = []
      return { sink: () => foreachBatch((rs: unknown[]) => void delivered.push(...rs)), output: async () => delivered }
    }
    const input = [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 4 }]
    const verdicts = await Promise.all(
      [0.2, 0.4, 0.6, 0.8].map((at) =>
        exactlyOnceUnderCrashesHolds(counts, input, { batchSize: 1, faults: [{ at, kind: 'crashBefore' }], sink: appending }),
      ),
    )
    expect(verdicts.some((v) => !v.holds)).toBe(true)
    expect(verdicts.every((v) => v.trace.length === 1)).toBe(true)
  })
})
