import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { groupBy, mapGroupsWithState, type StreamingQuery, trigger, withWatermark } from '../../src/index.js'
import { at, eventually, startQuery } from './support.js'

interface Click {
  readonly user: string
  readonly ts: number
}
type G = { key: string; value: Click }

/** One call of `update`, as the test records it. */
interface Call {
  readonly user: string
  readonly rows: number
  readonly hasTimedOut: boolean
}

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

describe('mapGroupsWithState timeouts', () => {
  it("with a 'processingTime' timeout, calls update with hasTimedOut and no rows once the duration passes without data", async () => {
    const calls: Call[] = []
    const q = await startQuery<Click, { key: string; session: string }>(
      (s) =>
        s.pipe(
          groupBy((c) => c.user, t.string),
          mapGroupsWithState<G, number, string, 'session'>({
            name: 'session',
            version: 1,
            state: t.number,
            timeout: 'processingTime',
            update: (user, rows, state) => {
              calls.push({ user, rows: rows.length, hasTimedOut: state.hasTimedOut })
              if (state.hasTimedOut) {
                const clicks = state.get()
                state.remove()
                return `closed after ${clicks}`
              }
              state.update((state.getOption() ?? 0) + rows.length)
              state.setTimeoutDuration(50)
              return 'open'
            },
          }),
        ),
      { outputMode: 'update', trigger: trigger.processingTime(10) },
    )
    started.push(q.query)
    await q.feed([{ user: 'a', ts: 0 }, { user: 'a', ts: 0 }])
    await eventually(() => calls.length === 2)
    expect(calls).toEqual([
      { user: 'a', rows: 2, hasTimedOut: false },
      { user: 'a', rows: 0, hasTimedOut: true },
    ])
    expect(q.sink.rows()).toEqual([{ key: 'a', session: 'closed after 2' }])
    expect(q.query.lastProgress).toMatchObject({ numInputRows: 0, stateOperators: [{ numRowsTotal: 0 }] })
  })

  it("with an 'eventTime' timeout, calls update with hasTimedOut and no rows once the watermark passes the timeout timestamp", async () => {
    const calls: Call[] = []
    const q = await startQuery<Click, { key: string; last: number }>(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, 0),
          groupBy((c) => c.user, t.string),
          mapGroupsWithState<G, number, number, 'last'>({
            name: 'last',
            version: 1,
            state: t.number,
            timeout: 'eventTime',
            update: (user, rows, state) => {
              calls.push({ user, rows: rows.length, hasTimedOut: state.hasTimedOut })
              if (state.hasTimedOut) {
                state.remove()
                return -1
              }
              const last = Math.max(state.getOption() ?? 0, ...rows.map((r) => r.ts))
              state.update(last)
              state.setTimeoutTimestamp(last + 5000)
              return last
            },
          }),
        ),
      { outputMode: 'update' },
    )
    started.push(q.query)
    await q.feed([{ user: 'a', ts: at(0) }]) // times out once the watermark passes 5 s
    await q.feed([{ user: 'b', ts: at(4) }]) // watermark 4 s: not yet
    expect(calls.filter((c) => c.hasTimedOut)).toEqual([])
    await q.feed([{ user: 'b', ts: at(6) }]) // watermark 6 s > 5 s: a no-data batch times 'a' out
    expect(calls.filter((c) => c.hasTimedOut)).toEqual([{ user: 'a', rows: 0, hasTimedOut: true }])
    expect(q.sink.rows()).toContainEqual({ key: 'a', last: -1 })
  })

  it('does not time out a group that receives data in the batch, even past its timeout (it is called with its rows)', async () => {
    const calls: Call[] = []
    const q = await startQuery<Click, unknown>(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, 0),
          groupBy((c) => c.user, t.string),
          mapGroupsWithState<G, number, number, 'n'>({
            name: 'n',
            version: 1,
            state: t.number,
            timeout: 'eventTime',
            update: (user, rows, state) => {
              calls.push({ user, rows: rows.length, hasTimedOut: state.hasTimedOut })
              state.update(1)
              state.setTimeoutTimestamp(Math.max(...rows.map((r) => r.ts), state.getCurrentWatermarkMs()) + 1000)
              return 1
            },
          }),
        ),
      { outputMode: 'update' },
    )
    started.push(q.query)
    await q.feed([{ user: 'a', ts: at(0) }])
    await q.feed([{ user: 'a', ts: at(10) }])
    expect(calls).toEqual([
      { user: 'a', rows: 1, hasTimedOut: false },
      { user: 'a', rows: 1, hasTimedOut: false },
    ])
  })

  it('clears the timeout of a group whose update did not set it again (as Spark resets it on every call)', async () => {
    const calls: Call[] = []
    const q = await startQuery<Click, unknown>(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, 0),
          groupBy((c) => c.user, t.string),
          mapGroupsWithState<G, number, number, 'n'>({
            name: 'n',
            version: 1,
            state: t.number,
            timeout: 'eventTime',
            update: (user, rows, state) => {
              calls.push({ user, rows: rows.length, hasTimedOut: state.hasTimedOut })
              const n = (state.getOption() ?? 0) + 1
              state.update(n)
              if (n === 1) state.setTimeoutTimestamp(rows[0]!.ts + 5000)
              return n
            },
          }),
        ),
      { outputMode: 'update' },
    )
    started.push(q.query)
    await q.feed([{ user: 'a', ts: at(0) }]) // timeout at 5 s
    await q.feed([{ user: 'a', ts: at(1) }]) // called again without setting it: no timeout any more
    await q.feed([{ user: 'b', ts: at(60) }])
    expect(calls.filter((c) => c.hasTimedOut)).toEqual([])
  })
})
