import fc from 'fast-check'
import * as t from 'io-ts'
import { map as rxMap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { incrementalMatchesReference, incrementalMatchesReferenceHolds, type QueryUnderTest } from '../../laws/index.js'
import {
  agg,
  aggregate,
  avg,
  count,
  dropDuplicates,
  filter,
  flatMap,
  groupBy,
  map,
  mapGroupsWithState,
  max,
  min,
  sum,
  withWatermark,
} from '../../src/index.js'
import { withPlan } from '../../src/plan/nodes.js'
import { type Activity, activities, type Event, eventsWithDuplicatesWithin, manyUsers } from './activity.js'
import { offByOneWindowGroupBy } from './brokenEngines.js'
import { holdsRuns } from '../support/propertyRuns.js'

/** Runs per law: enough to cover splits of inputs of up to 30 rows into up to 10 micro-batches. */
const numRuns = 100

function holdsFor<T, R>(query: QueryUnderTest<T, R>, input: fc.Arbitrary<T[]>): Promise<void> {
  return fc.assert(incrementalMatchesReference({ query, input }), { numRuns: holdsRuns(numRuns) })
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject, but it resolved')
}

/** The message of the error fast-check caught (fast-check reports it as the `cause` of its own error). */
function causeOf(failure: unknown): string {
  const cause = (failure as { cause?: unknown }).cause
  return cause instanceof Error ? cause.message : String(cause)
}

const byActivity = { window: { time: (r: Activity) => r.ts, size: '10 seconds' } } as const
const bySlidingActivity = { window: { time: (r: Activity) => r.ts, size: '10 seconds', slide: '5 seconds' } } as const

// Properties are independent and spend most of their time waiting on micro-batch triggers: run them side by side.
describe.concurrent('incrementalMatchesReference', { timeout: 60_000 }, () => {
  describe('stateless operators (append)', () => {
    it('holds for map', () =>
      holdsFor({ build: (s) => s.pipe(map((r) => ({ gt: r.gt.toUpperCase(), x2: r.x * 2 }))), outputMode: 'append' }, activities()))

    it('holds for filter', () =>
      holdsFor({ build: (s) => s.pipe(filter((r) => r.gt !== 'null' && r.x > 0)), outputMode: 'append' }, activities()))

    it('holds for flatMap, including rows that become zero rows', () =>
      holdsFor(
        { build: (s) => s.pipe(flatMap((r) => Array.from({ length: r.n }, (_, i) => ({ user: r.user, i })))), outputMode: 'append' },
        activities(),
      ))

    it('holds for a fused chain of map, filter and flatMap', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              filter((r) => r.gt !== 'null'),
              map((r) => ({ ...r, x: Math.round(r.x) })),
              flatMap((r) => (r.x % 2 === 0 ? [r, r] : [])),
              map((r) => `${r.user}:${r.x}`),
            ),
          outputMode: 'append',
        },
        activities(),
      ))
  })

  describe('aggregations', () => {
    it('holds for filter → groupBy → count in complete mode', () =>
      holdsFor(
        { build: (s) => s.pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count()), outputMode: 'complete' },
        activities(),
      ))

    it('holds for filter → groupBy → count in update mode', () =>
      holdsFor(
        { build: (s) => s.pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count()), outputMode: 'update' },
        activities(),
      ))

    it('holds for sum of floats, compared exactly (the engine folds each group in arrival order)', () =>
      holdsFor({ build: (s) => s.pipe(groupBy((r) => r.user, t.string), sum((r) => r.x)), outputMode: 'update' }, activities()))

    it('holds for avg of floats, compared exactly', () =>
      holdsFor({ build: (s) => s.pipe(groupBy((r) => r.user, t.string), avg((r) => r.x)), outputMode: 'complete' }, activities()))

    it('holds for min', () =>
      holdsFor({ build: (s) => s.pipe(groupBy((r) => r.gt, t.string), min((r) => r.x)), outputMode: 'update' }, activities()))

    it('holds for max', () =>
      holdsFor({ build: (s) => s.pipe(groupBy((r) => r.gt, t.string), max((r) => r.x)), outputMode: 'complete' }, activities()))

    it('holds for agg of several columns', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              groupBy((r) => r.user, t.string),
              agg({ n: count(), total: sum((r) => r.x), lo: min((r) => r.x), hi: max((r) => r.x), mean: avg((r) => r.x) }),
            ),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for a custom aggregate with an io-ts state codec', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              groupBy((r) => r.gt, t.string),
              aggregate({
                name: 'stats',
                version: 1,
                state: t.type({ n: t.number, total: t.number, users: t.array(t.string) }),
                zero: () => ({ n: 0, total: 0, users: [] as string[] }),
                add: (st, r) => ({
                  n: st.n + 1,
                  total: st.total + r.x,
                  users: st.users.includes(r.user) ? st.users : [...st.users, r.user],
                }),
                result: (st) => ({ mean: st.total / st.n, users: st.users.length }),
              }),
            ),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for an aggregation followed by map and a monotone filter', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              groupBy((r) => r.gt, t.string),
              count(),
              filter((r) => r.count >= 2),
              map((r) => ({ ...r, share: r.count / 30 })),
            ),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for a non-windowed count after a watermark, whatever the order of event times', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, 0), groupBy((r) => r.user, t.string), count()),
          outputMode: 'update',
        },
        activities().chain((rows) => fc.shuffledSubarray(rows, { minLength: rows.length, maxLength: rows.length })),
      ))

    it('holds for a composite key (object key codec)', () =>
      holdsFor(
        {
          build: (s) => s.pipe(groupBy((r) => ({ gt: r.gt, user: r.user }), t.type({ gt: t.string, user: t.string })), count()),
          outputMode: 'update',
        },
        activities(),
      ))
  })

  describe('more keys than partitions, more than 100 changed keys per micro-batch', () => {
    it('holds for counts by user in update mode', () =>
      fc.assert(
        incrementalMatchesReference({
          query: { build: (s) => s.pipe(groupBy((r) => r.user, t.string), count()), outputMode: 'update' },
          input: manyUsers(),
          maxBatches: 4,
        }),
        { numRuns: holdsRuns(30) },
      ))

    it('holds for windowed sums by user in append mode', () =>
      fc.assert(
        incrementalMatchesReference({
          query: {
            build: (s) =>
              s.pipe(withWatermark((r) => r.ts, '2 seconds'), groupBy((r) => r.user, t.string, byActivity), sum((r) => r.x)),
            outputMode: 'append',
          },
          input: manyUsers(),
          maxBatches: 4,
        }),
        { numRuns: holdsRuns(30) },
      ))
  })

  describe('windowed aggregations over in-order event time', () => {
    it('holds for tumbling-window counts in append mode (each window emitted once the watermark passes its end)', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, '5 seconds'), groupBy((r) => r.gt, t.string, byActivity), count()),
          outputMode: 'append',
        },
        activities(),
      ))

    it('holds for sliding-window counts in append mode', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, '3 seconds'), groupBy((r) => r.gt, t.string, bySlidingActivity), count()),
          outputMode: 'append',
        },
        activities(),
      ))

    it('holds for sliding-window counts in append mode with a zero watermark delay', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, 0), groupBy((r) => r.user, t.string, bySlidingActivity), count()),
          outputMode: 'append',
        },
        activities(),
      ))

    it('holds when a filter between the watermark and the window drops rows (they still move the watermark)', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              withWatermark((r) => r.ts, '4 seconds'),
              filter((r) => r.gt !== 'null'),
              groupBy((r) => r.gt, t.string, byActivity),
              agg({ n: count(), top: max((r) => r.x) }),
            ),
          outputMode: 'append',
        },
        activities(),
      ))

    it('holds for tumbling-window counts in update mode (windows evicted behind the watermark)', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, '2 seconds'), groupBy((r) => r.gt, t.string, byActivity), count()),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for sliding-window sums in update mode', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(withWatermark((r) => r.ts, '2 seconds'), groupBy((r) => r.user, t.string, bySlidingActivity), sum((r) => r.x)),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for windowed counts in complete mode (no eviction)', () =>
      holdsFor(
        {
          build: (s) => s.pipe(withWatermark((r) => r.ts, '1 second'), groupBy((r) => r.gt, t.string, bySlidingActivity), count()),
          outputMode: 'complete',
        },
        activities(),
      ))
  })

  describe('dropDuplicates', () => {
    it('holds for dropDuplicates without within (keys kept forever)', () =>
      holdsFor({ build: (s) => s.pipe(dropDuplicates((r) => r.user, t.string)), outputMode: 'append' }, activities()))

    it('holds for dropDuplicates within the watermark delay when duplicates arrive within it', () =>
      holdsFor<Event, Event>(
        {
          build: (s) => s.pipe(withWatermark((e) => e.ts, '10 seconds'), dropDuplicates((e) => e.id, t.string, { within: (e) => e.ts })),
          outputMode: 'append',
        },
        eventsWithDuplicatesWithin(10_000),
      ))

    it('holds for dropDuplicates followed by a count', () =>
      holdsFor(
        {
          build: (s) => s.pipe(dropDuplicates((r) => `${r.user}/${r.gt}`, t.string), groupBy((r) => r.user, t.string), count()),
          outputMode: 'update',
        },
        activities(),
      ))
  })

  describe('mapGroupsWithState', () => {
    it('holds for a running total whose output is a function of the state', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              groupBy((r) => r.user, t.string),
              mapGroupsWithState({
                name: 'running',
                version: 1,
                state: t.type({ rows: t.number, total: t.number }),
                update: (_user, rows, state) => {
                  const before = state.getOption() ?? { rows: 0, total: 0 }
                  const after = rows.reduce((st, r) => ({ rows: st.rows + 1, total: st.total + r.x }), before)
                  state.update(after)
                  return { rows: after.rows, total: after.total }
                },
              }),
            ),
          outputMode: 'update',
        },
        activities(),
      ))

    it('holds for draft-style updates of a growing list, whose output is the frozen state itself', () =>
      holdsFor(
        {
          build: (s) =>
            s.pipe(
              groupBy((r) => r.user, t.string),
              mapGroupsWithState({
                name: 'history',
                version: 1,
                state: t.type({ xs: t.array(t.number), total: t.number }),
                update: (_user, rows, state) => {
                  if (!state.exists) state.update({ xs: [], total: 0 })
                  state.update((draft) => {
                    for (const r of rows) {
                      draft.xs.push(r.x)
                      draft.total += r.x
                    }
                  })
                  return state.get()
                },
              }),
            ),
          outputMode: 'update',
        },
        activities(),
      ))
  })

  describe('the law can fail', () => {
    /** An operator whose RxJS behaviour adds 1 but whose plan node adds 2: reference and plan disagree on every row. */
    const disagreeingMap = () =>
      withPlan<number, number>(rxMap((x) => x + 1), { kind: 'map', fn: ((x: number) => x + 2) as (row: never) => unknown })

    it('fails, with expected, actual and the batches, when the plan node disagrees with the RxJS operator', async () => {
      const result = await incrementalMatchesReferenceHolds(
        { build: (s) => s.pipe(disagreeingMap()), outputMode: 'append' },
        [1, 2, 3],
        [1],
      )
      expect(result).toMatchObject({ holds: false, expected: [2, 3, 4], actual: [3, 4, 5], batches: [[1], [2, 3]] })
      expect(result.message).toContain('2 differences:\n  - missing 2\n  + extra   5\n')
    })

    it('fails, naming the error, when the engine fails where the reference does not', async () => {
      const throwsInPlan = withPlan<number, number>(rxMap((x) => x), {
        kind: 'map',
        fn: ((x: number) => {
          if (x === 2) throw new Error('plan exploded')
          return x
        }) as (row: never) => unknown,
      })
      const result = await incrementalMatchesReferenceHolds({ build: (s) => s.pipe(throwsInPlan), outputMode: 'append' }, [1, 2], [1])
      expect(result).toMatchObject({ holds: false, expected: [1, 2], actual: [1] })
      expect(result.message).toMatch(/the query failed: StreamingQueryError: .*batch 1 at map #1: plan exploded/)
    })

    it('makes fc.assert reject when the plan node disagrees with the RxJS operator', async () => {
      const property = incrementalMatchesReference<number, number>({
        query: { build: (s) => s.pipe(disagreeingMap()), outputMode: 'append' },
        input: fc.array(fc.integer(), { minLength: 1 }),
      })
      const failure = await rejectionOf(fc.assert(property, { numRuns: 20 }))
      expect(String(failure)).toMatch(/Counterexample/)
      expect(causeOf(failure)).toMatch(/incrementalMatchesReference does not hold [^]*\n  batches: .*\n  expected: .*\n  actual: /)
    })

    /**
     * `count()` as reference, but a plan that counts only the rows of the current micro-batch: right for one batch,
     * wrong as soon as a group spans two. The law has to find a split that shows it.
     */
    const perBatchCount = () =>
      withPlan<{ key: string; value: Activity }, { key: string; count: number }>((rows) => count<{ key: string; value: Activity }>()(rows), {
        kind: 'mapGroupsWithState',
        name: 'count',
        version: 1,
        stateCodec: t.number,
        update: ((_key: string, rows: Activity[]) => rows.length) as never,
        timeout: 'none',
        migrations: [],
      })

    it('finds a window boundary off by one millisecond within the default number of runs', async () => {
      const query: QueryUnderTest<Activity, unknown> = {
        build: (s) => s.pipe(offByOneWindowGroupBy((r) => r.gt, t.string, { time: (r) => r.ts, size: 10_000 }), count()),
        outputMode: 'update',
      }
      const details = await fc.check(incrementalMatchesReference({ query, input: activities() }), { numRuns, endOnFailure: true })
      expect(details.failed).toBe(true)
      expect(String(details.errorInstance)).toMatch(/incrementalMatchesReference does not hold/)
    })

    it('finds a split that exposes a plan which forgets state between micro-batches', async () => {
      const query: QueryUnderTest<Activity, { key: string; count: number }> = {
        build: (s) => s.pipe(groupBy((r) => r.user, t.string), perBatchCount()),
        outputMode: 'update',
      }
      const rows = [{ gt: 'sit', user: 'a', x: 0, n: 0, ts: 0 }, { gt: 'sit', user: 'a', x: 0, n: 0, ts: 0 }]
      expect((await incrementalMatchesReferenceHolds(query, rows, [])).holds).toBe(true)
      expect((await incrementalMatchesReferenceHolds(query, rows, [1])).holds).toBe(false)
      const failure = await rejectionOf(fc.assert(incrementalMatchesReference({ query, input: activities() }), { numRuns }))
      expect(causeOf(failure)).toMatch(/does not hold/)
    })
  })
})
