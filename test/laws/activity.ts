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

/**
 * Activity rows in event-time order (non-decreasing `ts`, steps of 0–4 s, so rows share windows of 10 s and
 * some share a timestamp).
 */
export function activities(maxLength = 30): fc.Arbitrary<Activity[]> {
  return fc
    .array(fc.record({ gt, user, x, n: fc.integer({ min: 0, max: 3 }), dt: fc.integer({ min: 0, max: 4000 }) }), { maxLength })
    .map((rows) => {
      let ts = T0
      return rows.map(({ dt, ...row }) => ({ ...row, ts: (ts += dt) }))
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
