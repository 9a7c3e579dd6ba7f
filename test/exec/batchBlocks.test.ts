import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  dropDuplicates,
  filter,
  flatMap,
  groupBy,
  map,
  mapGroupsWithState,
  memorySource,
  sum,
  withWatermark,
  type Stream,
} from '../../src/index.js'
import type { BatchContext } from '../../src/exec/batch.js'
import { type Executable, instantiate } from '../../src/exec/instantiate.js'
import { BatchFold } from '../../src/exec/runSteps.js'
import { compilePlan } from '../../src/plan/compile.js'
import type { OutputMode } from '../../src/plan/plan.js'

interface Row {
  readonly user: string
  readonly ts: number
  readonly n: number
}

const SECOND = 1000

/** Queries of every kind of step: fused stateless loops, the watermark, each stateful operator, and two in a row. */
const QUERIES: readonly { name: string; mode: OutputMode; build: (s: Stream<Row>) => Stream<unknown> }[] = [
  {
    name: 'the benchmark shape: map, watermark, windowed count (append)',
    mode: 'append',
    build: (s) =>
      s.pipe(
        map((r) => ({ user: r.user, ts: r.ts, qty: r.n % 3 })),
        withWatermark((r) => r.ts, '5 seconds'),
        groupBy((r) => r.user, t.string, { window: { time: (r) => r.ts, size: '10 seconds' } }),
        count(),
      ),
  },
  {
    name: 'filter, flatMap, count per key (update)',
    mode: 'update',
    build: (s) =>
      s.pipe(
        filter((r) => r.n % 5 !== 0),
        flatMap((r) => (r.n % 2 === 0 ? [r, { ...r, user: `${r.user}-twin` }] : [r])),
        groupBy((r) => r.user, t.string),
        count(),
      ),
  },
  {
    name: 'tumbling windows without a watermark (update): every batch marks what it changed',
    mode: 'update',
    build: (s) => s.pipe(groupBy((r) => r.user, t.string, { window: { time: (r) => r.ts, size: '20 seconds' } }), count()),
  },
  {
    name: 'sliding windows with a sum (update)',
    mode: 'update',
    build: (s) =>
      s.pipe(
        withWatermark((r) => r.ts, '3 seconds'),
        groupBy((r) => r.user, t.string, { window: { time: (r) => r.ts, size: '10 seconds', slide: '5 seconds' } }),
        sum((r) => r.n),
      ),
  },
  {
    name: 'dropDuplicates within the watermark, then a map (append)',
    mode: 'append',
    build: (s) =>
      s.pipe(
        withWatermark((r) => r.ts, '4 seconds'),
        dropDuplicates((r) => `${r.user}:${r.n % 4}`, t.string, { within: (r) => r.ts }),
        map((r) => ({ ...r, seen: true })),
      ),
  },
  {
    name: 'mapGroupsWithState over each group of the batch (update)',
    mode: 'update',
    build: (s) =>
      s.pipe(
        groupBy((r) => r.user, t.string),
        mapGroupsWithState({
          name: 'seen',
          version: 1,
          state: t.array(t.number),
          update: (_user: string, rows: Row[], state) => {
            state.update([...(state.getOption() ?? []), ...rows.map((r) => r.n)].slice(-6))
            return state.get()
          },
        }),
      ),
  },
  {
    name: 'dropDuplicates then a count (update): the second operator runs on the first one’s output',
    mode: 'update',
    build: (s) => s.pipe(dropDuplicates((r) => r.n, t.number), groupBy((r) => r.user, t.string), count()),
  },
  { name: 'stateless only (append)', mode: 'append', build: (s) => s.pipe(filter((r) => r.n % 3 !== 1), map((r) => ({ u: r.user, n: r.n * 2 }))) },
  { name: 'no step at all (append)', mode: 'append', build: (s) => s },
]

function executableOf(query: (typeof QUERIES)[number]): Executable {
  const stream = query.build(createSession().readStream(memorySource<Row>().source))
  return instantiate(compilePlan((stream as unknown as { planNodes: never }).planNodes, query.mode), 4)
}

/** Splits rows into blocks of the given sizes (0 is an empty block), the rest as one more block. */
function blocksOf(rows: readonly Row[], sizes: readonly number[]): Row[][] {
  const blocks: Row[][] = []
  let at = 0
  for (const size of sizes) {
    blocks.push(rows.slice(at, at + size))
    at += size
  }
  if (at < rows.length) blocks.push(rows.slice(at))
  return blocks
}

/** Runs batches through a fresh executable, each batch's rows added as `split` cuts them; records all it saw. */
function runBatches(query: (typeof QUERIES)[number], batches: readonly Row[][], split: (rows: Row[], batch: number) => Row[][]) {
  const exec = executableOf(query)
  const delayMs = exec.plan.watermark?.delayMs ?? 0
  let watermarkMs = 0
  const seen: unknown[] = []
  batches.forEach((rows, batchId) => {
    const ctx: BatchContext = {
      batchId,
      watermarkMs,
      hasWatermark: exec.plan.watermark !== undefined,
      watermarkDelayMs: delayMs,
      processingTimeMs: 0,
      outputMode: query.mode,
    }
    const fold = new BatchFold(exec.steps, ctx)
    for (const block of split(rows, batchId)) fold.add(block)
    const { output, eventTime } = fold.finish()
    const operators = exec.operators.map((op) => ({
      dropped: op.numRowsDroppedByWatermark,
      updated: op.store.numRowsUpdated,
      removed: op.store.numRowsRemoved,
      deltas: op.store.takeDeltas(),
    }))
    seen.push({ batchId, output, eventTime, operators })
    if (eventTime !== undefined && exec.plan.watermark !== undefined) watermarkMs = Math.max(watermarkMs, eventTime.max - delayMs)
  })
  return seen
}

const rowArb = fc.record({
  user: fc.constantFrom('ann', 'bob', 'cy', 'dee'),
  ts: fc.integer({ min: 0, max: 60 * SECOND }),
  n: fc.integer({ min: 0, max: 40 }),
})
/** Block sizes: mostly small, with empty blocks among them. */
const sizesArb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 7 })), { maxLength: 12 })

describe('a batch folded block by block', () => {
  for (const query of QUERIES) {
    it(`gives exactly the single-block result: ${query.name}`, () => {
      fc.assert(
        fc.property(fc.array(fc.array(rowArb, { maxLength: 30 }), { minLength: 1, maxLength: 5 }), fc.array(sizesArb, { minLength: 5, maxLength: 5 }), (batches, sizes) => {
          const whole = runBatches(query, batches, (rows) => [rows])
          const blocks = runBatches(query, batches, (rows, b) => blocksOf(rows, sizes[b]!))
          expect(blocks).toEqual(whole)
        }),
        { numRuns: 150 },
      )
    })
  }

  it('gives the same result at the boundaries: blocks of one row, a batch of exactly k blocks, only empty blocks', () => {
    const rows: Row[] = Array.from({ length: 24 }, (_, i) => ({ user: ['ann', 'bob', 'cy'][i % 3]!, ts: (i * 1_700) % 41_000, n: i }))
    const batches = [rows.slice(0, 12), [], rows.slice(12)]
    for (const query of QUERIES) {
      const whole = runBatches(query, batches, (r) => [r])
      const splits: ((r: Row[]) => Row[][])[] = [
        (r) => r.map((row) => [row]),
        (r) => blocksOf(r, [4, 4, 4]),
        (r) => blocksOf(r, [6, 6]),
        (r) => blocksOf(r, [5, 5]),
        (r) => [[], ...blocksOf(r, [0, 3, 0, 3]), []],
        (r) => (r.length === 0 ? [[], []] : [r, []]),
        (r) => (r.length === 0 ? [] : [r]),
      ]
      for (const split of splits) expect(runBatches(query, batches, split), query.name).toEqual(whole)
    }
  })

  it('tells the error of a step from the source’s: the fold records what it threw', () => {
    const failing = (r: Row): Row => {
      if (r.n === 3) throw new Error('row 3 is bad')
      return r
    }
    const exec = executableOf({ name: 'failing', mode: 'update', build: (s) => s.pipe(map(failing), groupBy((r) => r.user, t.string), count()) })
    const fold = new BatchFold(exec.steps, { batchId: 0, watermarkMs: 0, hasWatermark: false, watermarkDelayMs: 0, processingTimeMs: 0, outputMode: 'update' })
    fold.add([{ user: 'ann', ts: 0, n: 1 }])
    expect(fold.failure).toBeUndefined()
    let thrown: unknown
    try {
      fold.add([{ user: 'ann', ts: 0, n: 3 }])
    } catch (e) {
      thrown = e
    }
    expect(String(thrown)).toMatch(/row 3 is bad/)
    expect(fold.failure?.error).toBe(thrown)
  })
})
