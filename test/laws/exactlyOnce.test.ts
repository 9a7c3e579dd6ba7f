import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { exactlyOnceUnderCrashes, exactlyOnceUnderCrashesHolds } from '../../laws/exactlyOnce.js'
import type { QueryUnderTest } from '../../laws/query.js'
import { losesDeltaKey, offsetsAfterSink, rerunsCommittedBatch, replayingSink, skipsPendingBatch } from './brokenEngines.js'
import { count, dropDuplicates, filter, groupBy, map, mapGroupsWithState, type Stream, withWatermark } from '../../src/index.js'

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
/** A per-key history grown through drafts; the long label makes patches the smaller record from the second batch on. */
const History = t.type({ label: t.string, vs: t.array(t.number) })
const histories: QueryUnderTest<Row, unknown> = {
  build: (s: Stream<Row>) =>
    s.pipe(
      groupBy((r) => r.k, t.string),
      mapGroupsWithState({
        name: 'history',
        version: 1,
        state: History,
        update: (k, rs, st) => {
          if (!st.exists) st.update({ label: `history of ${k} `.repeat(8), vs: [] })
          st.update((draft) => {
            // Decided row by row, so the history does not depend on how the input is cut into micro-batches (the
            // law's premise); a row whose value is a multiple of 5 drops the oldest entry, so patches also remove.
            for (const r of rs) {
              draft.vs.push(r.v)
              if (r.v % 5 === 0) draft.vs.shift()
            }
          })
          return st.get().vs
        },
      }),
    ),
  outputMode: 'update',
}

/** Runs per law; each case runs the query several times on a real, fsynced checkpoint. */
const RUNS = 25
// Cases wait on fsync most of the time: run the properties side by side.
describe.concurrent('exactlyOnceUnderCrashes', () => {
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
  it('holds for draft updates recorded as patch deltas, crashing between them and the next snapshot', async () => {
    // Two keys and longer inputs, so a key usually has patch deltas after the last snapshot when a crash hits.
    const longer = fc.array(fc.record({ k: fc.constantFrom('a', 'b'), v: fc.integer({ min: 0, max: 50 }) }), { minLength: 6, maxLength: 24 })
    await fc.assert(exactlyOnceUnderCrashes({ query: histories, input: longer, sink: 'foreachBatch' }), { numRuns: RUNS })
  })
  it('holds for crashes at fixed points between patch deltas and the next snapshot', async () => {
    // Two keys, 16 rows in batches of 2: batches 1, 2, 4, 5, 7… write patch deltas; snapshots at 3, 6, 9….
    const input = Array.from({ length: 16 }, (_, i) => ({ k: i % 2 ? 'a' : 'b', v: i }))
    for (const at of [0.3, 0.5, 0.7, 0.9]) {
      const verdict = await exactlyOnceUnderCrashesHolds(histories, input, { batchSize: 2, faults: [{ at, kind: 'crashBefore' }], sink: 'foreachBatch' })
      expect(verdict.holds, verdict.holds ? '' : verdict.message).toBe(true)
    }
  })
})

/** How many cases fast-check needed to find a counterexample (it stops at the first, without shrinking). */
async function casesToFailure<Ts>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<number> {
  const details = await fc.check(property, { numRuns, endOnFailure: true })
  if (!details.failed) throw new Error(`the law held for all ${numRuns} cases (seed ${details.seed})`)
  return details.numRuns
}

const caught = <Ts>(property: fc.IAsyncProperty<Ts>) => casesToFailure(property, DEFAULT_RUNS)
/** fast-check's default number of runs: the law must catch each broken variant within it. */
const DEFAULT_RUNS = 100

describe.concurrent('exactlyOnceUnderCrashes catches a broken engine or sink within the default number of runs', () => {
  it('a sink that does not skip a replayed batch', async () => {
    expect(await caught(exactlyOnceUnderCrashes({ query: stateless, input: rows, sink: replayingSink }))).toBeLessThanOrEqual(DEFAULT_RUNS)
  })
  it('a recovery that skips the pending batch', async () => {
    expect(await caught(exactlyOnceUnderCrashes({ query: stateless, input: rows, fs: skipsPendingBatch }))).toBeLessThanOrEqual(DEFAULT_RUNS)
  })
  it('a recovery that re-runs the last committed batch', async () => {
    expect(await caught(exactlyOnceUnderCrashes({ query: counts, input: rows, fs: rerunsCommittedBatch }))).toBeLessThanOrEqual(DEFAULT_RUNS)
  })
  it('a write-ahead log written after the sink (caught thanks to input arriving between restarts)', async () => {
    expect(await caught(exactlyOnceUnderCrashes({ query: stateless, input: rows, fs: offsetsAfterSink }))).toBeLessThanOrEqual(DEFAULT_RUNS)
  })
  it('a state delta that loses a key', async () => {
    expect(await caught(exactlyOnceUnderCrashes({ query: completeCounts, input: rows, fs: losesDeltaKey }))).toBeLessThanOrEqual(DEFAULT_RUNS)
  })
})
