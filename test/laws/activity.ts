/** Test inputs for the laws: activity rows shaped like the spec's example, with few distinct keys so groups collide. */
import fc from 'fast-check'

export interface Activity {
  readonly gt: string
  readonly user: string
  readonly x: number
  readonly n: number
  /** Event time, epoch ms. */
  readonly ts: number
}

/** 2023-11-14T22:13:20Z: event times well after epoch 0, where the watermark starts. */
export const T0 = 1_700_000_000_000

const gt = fc.constantFrom('sit', 'walk', 'stand', 'bike', 'null')
const user = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')
/** Floats, so sums and averages exercise rounding; the engine folds rows in the reference's order. */
const x = fc.double({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true })

/** Every window size and slide the law tests use is a multiple of this: event times near its multiples are boundaries. */
const BOUNDARY_MS = 5000
/**
 * Where a row lands relative to the next boundary: on it, one millisecond either side, and one millisecond either
 * side of boundary + delay for the watermark delays the tests use (1–5 s), where a window's end meets the watermark.
 */
const BOUNDARY_OFFSETS = [-1, 0, 1, ...[1000, 2000, 3000, 4000].flatMap((d) => [d - 1, d, d + 1])]

/**
 * How far the next row's event time moves: not at all (equal timestamps), a random step of up to 4 s, or to a window
 * boundary (see BOUNDARY_OFFSETS) at or after the current time.
 */
const step = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ dt: 0 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4000 }).map((dt) => ({ dt })) },
  { weight: 3, arbitrary: fc.constantFrom(...BOUNDARY_OFFSETS).map((offset) => ({ offset })) },
)

function nextTime(ts: number, move: { dt: number } | { offset: number }): number {
  if ('dt' in move) return ts + move.dt
  const boundary = Math.ceil((ts - move.offset) / BOUNDARY_MS) * BOUNDARY_MS
  return Math.max(ts, boundary + move.offset)
}

/**
 * Activity rows in event-time order (non-decreasing `ts`), biased towards the edges where off-by-one bugs live: equal
 * timestamps, times exactly at window starts and ends and one millisecond either side, and times where a window's end
 * plus the watermark delay is reached (so late rows land exactly at the watermark).
 */
export function activities(maxLength = 30): fc.Arbitrary<Activity[]> {
  return fc.array(fc.record({ gt, user, x, n: fc.integer({ min: 0, max: 3 }), move: step }), { maxLength }).map((rows) => {
    let ts = T0
    return rows.map(({ move, ...row }) => ({ ...row, ts: (ts = nextTime(ts, move)) }))
  })
}

/**
 * Activity rows with many distinct users (up to 250, several per row batch), so one micro-batch changes more than 100
 * keys, and every partition holds many keys: the sizes where state code switches paths.
 */
export function manyUsers(maxLength = 400): fc.Arbitrary<Activity[]> {
  return fc
    .array(fc.record({ gt, u: fc.nat({ max: 249 }), x: fc.integer({ min: -100, max: 100 }), move: step }), { minLength: 150, maxLength })
    .map((rows) => {
      let ts = T0
      return rows.map(({ u, move, ...row }) => ({ ...row, user: `u${u}`, n: u % 4, ts: (ts = nextTime(ts, move)) }))
    })
}

/** An event with an id that may repeat, for dropDuplicates. */
export interface Event {
  readonly id: string
  readonly ts: number
}

/**
 * Events in event-time order whose duplicates all arrive within `withinMs` of the first event of their id: an id
 * that would repeat later than that is renamed, so dropDuplicates within a watermark delay of `withinMs` must drop
 * every duplicate.
 */
export function eventsWithDuplicatesWithin(withinMs: number, maxLength = 30): fc.Arbitrary<Event[]> {
  return fc
    .array(fc.record({ id: fc.constantFrom('e1', 'e2', 'e3', 'e4'), dt: fc.integer({ min: 0, max: withinMs / 2 }) }), { maxLength })
    .map((rows) => {
      const generation = new Map<string, { readonly id: string; readonly since: number }>()
      let ts = T0
      return rows.map(({ id, dt }, i) => {
        ts += dt
        let current = generation.get(id)
        if (current === undefined || ts - current.since > withinMs) {
          current = { id: current === undefined ? id : `${id}@${i}`, since: ts }
          generation.set(id, current)
        }
        return { id: current.id, ts }
      })
    })
}
