import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { GroupState, groupBy, mapGroupsWithState } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
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

  it('rejects a version that is not a positive integer with a RangeError', () => {
    expect(() => mapGroupsWithState<G, number, number, 's'>({ name: 's', version: 0, state: t.number, update: () => 1 })).toThrow(RangeError)
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
    expect(() => state.update(undefined)).toThrow(TypeError)
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

  it('setTimeoutTimestamp throws a RangeError for a timestamp not after the watermark', () => {
    const state = new GroupState<number>({ exists: true, value: 1 }, false, clock('eventTime'))
    expect(() => state.setTimeoutTimestamp(500)).toThrow(RangeError)
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
