import { join } from 'node:path'
import * as t from 'io-ts'
import { concat, of, throwError } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { GroupState, groupBy, map, mapGroupsWithState, memorySource, type Stream } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { useTempDir } from '../checkpoint/tempDir.js'
import { deploy, refusal } from '../fixtures/upgradeSupport.js'
import { emitted } from './reference.js'

interface Click {
  readonly user: string
  readonly page: string
}
type G = { key: string; value: Click }
const clicks: Click[] = [{ user: 'a', page: 'p1' }, { user: 'b', page: 'p2' }, { user: 'a', page: 'p3' }]
const byUser = () => groupBy((c: Click) => c.user, t.string)

describe('mapGroupsWithState', () => {
  it('calls update once per row, with that row alone and the state of its group', () => {
    const calls: [string, Click[], number | undefined][] = []
    const op = mapGroupsWithState<G, number, number, 'visits'>({
      name: 'visits',
      version: 1,
      state: t.number,
      update: (user, rows, state) => {
        calls.push([user, rows, state.getOption()])
        state.update((state.getOption() ?? 0) + rows.length)
        return state.get()
      },
    })
    expect(emitted(clicks, byUser(), op)).toEqual([
      { key: 'a', visits: 1 },
      { key: 'b', visits: 1 },
      { key: 'a', visits: 2 },
    ])
    expect(calls).toEqual([
      ['a', [clicks[0]], undefined],
      ['b', [clicks[1]], undefined],
      ['a', [clicks[2]], 1],
    ])
  })

  it('emits nothing for a call whose update returns undefined', () => {
    const op = mapGroupsWithState<G, number, string, 'out'>({
      name: 'out',
      version: 1,
      state: t.number,
      update: (user) => (user === 'b' ? 'seen b' : undefined),
    })
    expect(emitted(clicks, byUser(), op)).toEqual([{ key: 'b', out: 'seen b' }])
  })

  it('starts a group afresh after update removed its state', () => {
    const op = mapGroupsWithState<G, number, boolean, 'existed'>({
      name: 'existed',
      version: 1,
      state: t.number,
      update: (_user, _rows, state) => {
        const existed = state.exists
        if (existed) state.remove()
        else state.update(1)
        return existed
      },
    })
    const aOnly = [clicks[0]!, clicks[2]!, clicks[0]!]
    expect(emitted<{ existed: boolean }>(aOnly, byUser(), op).map((r) => r.existed)).toEqual([false, true, false])
  })

  it("carries a mapGroupsWithState plan node with timeout 'none' by default", () => {
    const node = mapGroupsWithState<G, number, number, 's'>({ name: 's', version: 3, state: t.number, update: () => 1 })[PLAN]
    expect(node).toMatchObject({ kind: 'mapGroupsWithState', name: 's', version: 3, timeout: 'none', stateCodec: t.number })
  })

  it('rejects a version that is not a positive integer with a RangeError naming the operator and the version given', () => {
    expect(() => mapGroupsWithState<G, number, number, 's'>({ name: 's', version: 0, state: t.number, update: () => 1 })).toThrow(RangeError)
    expect(() => mapGroupsWithState<G, number, number, 's'>({ name: 's', version: 1.5, state: t.number, update: () => 1 })).toThrow(
      "mapGroupsWithState 's': version must be a positive integer, got 1.5",
    )
  })

  it('in the reference semantics, calls update with rows and hasTimedOut false, under the timeout kind the spec declares', () => {
    const seen: { timedOut: boolean; watermark: number; now: number }[] = []
    const before = Date.now()
    const op = mapGroupsWithState<G, number, number, 'n'>({
      name: 'n',
      version: 1,
      state: t.number,
      timeout: 'processingTime',
      update: (_user, rows, state) => {
        seen.push({ timedOut: state.hasTimedOut, watermark: state.getCurrentWatermarkMs(), now: state.getCurrentProcessingTimeMs() })
        state.update((state.getOption() ?? 0) + rows.length)
        state.setTimeoutDuration('1 minute')
        return state.get()
      },
    })
    expect(emitted(clicks, byUser(), op)).toEqual([
      { key: 'a', n: 1 },
      { key: 'b', n: 1 },
      { key: 'a', n: 2 },
    ])
    expect(seen.map((s) => s.timedOut)).toEqual([false, false, false])
    // The reference has no watermark; its processing time is the wall clock.
    expect(seen.map((s) => s.watermark)).toEqual([0, 0, 0])
    for (const s of seen) expect(s.now).toBeGreaterThanOrEqual(before)
  })

  it("in the reference semantics, an 'eventTime' spec lets update set a timeout timestamp", () => {
    const op = mapGroupsWithState<G, number, number, 'at'>({
      name: 'at',
      version: 1,
      state: t.number,
      timeout: 'eventTime',
      update: (_user, _rows, state) => {
        state.setTimeoutTimestamp(10_000)
        state.update(state.timeoutAt!)
        return state.get()
      },
    })
    expect(emitted([clicks[0]], byUser(), op)).toEqual([{ key: 'a', at: 10_000 }])
  })

  it('in the reference semantics, passes on the error of its source and completes when the source does', () => {
    const op = mapGroupsWithState<G, number, number, 'n'>({ name: 'n', version: 1, state: t.number, update: () => 1 })
    const boom = new Error('source failed')
    const seen: unknown[] = []
    concat(of(clicks[0]!), throwError(() => boom))
      .pipe(byUser(), op as never)
      .subscribe({ next: (row) => seen.push(row), error: (e: unknown) => seen.push(e) })
    expect(seen).toEqual([{ key: 'a', n: 1 }, boom])
    let completed = false
    of(clicks[0]!)
      .pipe(byUser(), op as never)
      .subscribe({ complete: () => (completed = true) })
    expect(completed).toBe(true)
  })

  it('in the reference semantics, refuses rows that were not grouped by groupBy, naming groupBy', () => {
    const op = mapGroupsWithState<G, number, number, 'n'>({ name: 'n', version: 1, state: t.number, update: () => 1 })
    const handMade = map((c: Click) => ({ key: c.user, value: c }))
    expect(() => emitted(clicks, handMade, op as never)).toThrow(
      new TypeError('an aggregation or mapGroupsWithState must follow groupBy(keyOf, keyCodec)'),
    )
  })
})

describe('mapGroupsWithState after a restart from a checkpoint', () => {
  const checkpoint = useTempDir()
  const visits = (version: number) => (s: Stream<Click>) =>
    s.pipe(
      byUser(),
      mapGroupsWithState<G, number, number, 'visits'>({
        name: 'visits',
        version,
        state: t.number,
        update: (_user, rows, state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return state.get()
        },
      }),
    )

  it("refuses a raised version given no migrations, saying 'migrations given: none'", async () => {
    const location = join(checkpoint(), 'checkpoint')
    const input = memorySource<Click>()
    const first = await deploy(location, input, { build: visits(1), outputMode: 'update' }, [clicks])
    expect(first.rows).toEqual(expect.arrayContaining([{ key: 'a', visits: 2 }, { key: 'b', visits: 1 }]))
    const { reasons } = await refusal(deploy(location, input, { build: visits(2), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'visits': state version rose from 1 to 2 but no chain of migrations leads from 1 to 2 \(migrations given: none\)/)
  })
})

describe('GroupState', () => {
  const clock = (timeout: 'none' | 'processingTime' | 'eventTime') => ({ processingTimeMs: 1000, watermarkMs: 500, timeout })

  it('get() throws when the group has no state; getOption() returns undefined', () => {
    const state = new GroupState<number>({ exists: false }, false, clock('none'))
    expect(() => state.get()).toThrow(/no state/)
    expect(state.getOption()).toBeUndefined()
  })

  it('update(undefined) throws a TypeError (remove() is how state goes away)', () => {
    const state = new GroupState<number | undefined>({ exists: false }, false, clock('none'))
    expect(() => state.update(undefined)).toThrow(new TypeError('GroupState.update(): state cannot be undefined; use remove()'))
  })

  it('isChanged is false until update, remove or a timeout changes the group; reading it changes nothing', () => {
    const read = new GroupState<number>({ exists: true, value: 1 }, false, clock('none'))
    expect(read.get()).toBe(1)
    expect(read.isChanged).toBe(false)
    const removed = new GroupState<number>({ exists: true, value: 1 }, false, clock('none'))
    removed.remove()
    expect(removed.isChanged).toBe(true)
    const byDuration = new GroupState<number>({ exists: true, value: 1 }, false, clock('processingTime'))
    byDuration.setTimeoutDuration(10)
    expect(byDuration.isChanged).toBe(true)
    const byTimestamp = new GroupState<number>({ exists: true, value: 1 }, false, clock('eventTime'))
    byTimestamp.setTimeoutTimestamp(900)
    expect(byTimestamp.isChanged).toBe(true)
  })

  it('reports the batch watermark and processing time it was given', () => {
    const state = new GroupState<number>({ exists: false }, false, clock('eventTime'))
    expect(state.getCurrentWatermarkMs()).toBe(500)
    expect(state.getCurrentProcessingTimeMs()).toBe(1000)
  })

  it('setTimeoutDuration sets the timeout to the batch processing time plus the duration', () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('processingTime'))
    state.setTimeoutDuration('2 seconds')
    expect(state.timeoutAt).toBe(3000)
  })

  it("setTimeoutDuration throws unless the timeout is 'processingTime'", () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('eventTime'))
    expect(() => state.setTimeoutDuration(10)).toThrow(/processingTime/)
  })

  it('setTimeoutDuration rejects a duration it cannot read with a RangeError naming setTimeoutDuration', () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('processingTime'))
    expect(() => state.setTimeoutDuration('soon')).toThrow(new RangeError("setTimeoutDuration: cannot read duration 'soon' (try '10 seconds', '5 minutes' or a number of ms)"))
    expect(state.timeoutAt).toBeUndefined()
  })

  it("setTimeoutTimestamp throws unless the timeout is 'eventTime', saying which timeout to declare", () => {
    for (const timeout of ['none', 'processingTime'] as const) {
      const state = new GroupState<number>({ exists: true, value: 1 }, false, clock(timeout))
      expect(() => state.setTimeoutTimestamp(900)).toThrow(
        new Error("GroupState.setTimeoutTimestamp() needs mapGroupsWithState({ timeout: 'eventTime' })"),
      )
      expect(state.timeoutAt).toBeUndefined()
    }
  })

  it('setTimeoutTimestamp throws a RangeError for a timestamp not after the watermark', () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('eventTime'))
    expect(() => state.setTimeoutTimestamp(500)).toThrow(new RangeError('GroupState.setTimeoutTimestamp(500) is not after the watermark 500'))
    state.setTimeoutTimestamp(501)
    expect(state.timeoutAt).toBe(501)
  })

  it('remove() also clears the timeout', () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('eventTime'))
    state.setTimeoutTimestamp(900)
    state.remove()
    expect(state.timeoutAt).toBeUndefined()
    expect(state.exists).toBe(false)
  })
})
