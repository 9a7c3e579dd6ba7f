/**
 * boundedCoordinator: every call passes through with its answer, ends within its bound with an error naming the store
 * and the call, and a failure of the store is named the same way with the failure as its cause; a foreign entry is
 * passed on as it is. Timers are vitest's fake ones, advanced by hand.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { boundedCoordinator } from '../../src/durable/boundedCoordinator.js'
import type { Coordinator, Lease } from '../../src/durable/lease.js'
import { CoordinatorStateError, CoordinatorUnavailableError } from '../../src/errors.js'
import { rejectionOf, thrownBy } from '../checkpoint/tempDir.js'

const STORE = 'redis 10.0.0.5:6379'
const lease: Lease = { task: 'task-3', member: 'm1', epoch: 2, revision: 7, expiresAt: 1000 }

/** A coordinator whose every call records its arguments and answers with what `answer` gives for the call. */
function recording(answer: (call: string) => Promise<unknown>): { inner: Coordinator; calls: unknown[][] } {
  const calls: unknown[][] = []
  const method = (name: string) => (...args: unknown[]) => {
    calls.push([name, ...args])
    return answer(name)
  }
  const inner = Object.fromEntries(
    ['heartbeat', 'leave', 'members', 'leases', 'acquire', 'renew', 'release', 'holds'].map((n) => [n, method(n)]),
  ) as unknown as Coordinator
  return { inner, calls }
}

describe('boundedCoordinator', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('refuses a bound that is not a positive number, naming it', () => {
    const { inner } = recording(async () => undefined)
    for (const timeoutMs of [0, -1, Number.NaN]) {
      const error = thrownBy(() => boundedCoordinator(inner, { timeoutMs, store: STORE }))
      expect(error).toBeInstanceOf(RangeError)
      expect((error as Error).message).toBe(`boundedCoordinator: timeoutMs must be a positive number, got ${timeoutMs}`)
    }
    expect(() => boundedCoordinator(inner, { timeoutMs: 0.5, store: STORE })).not.toThrow()
  })

  it('passes each call with its arguments to the coordinator and returns its answer', async () => {
    const answers: Record<string, unknown> = {
      heartbeat: undefined,
      leave: undefined,
      members: ['m1', 'm2'],
      leases: [lease],
      acquire: lease,
      renew: { ...lease, revision: 8 },
      release: true,
      holds: false,
    }
    const { inner, calls } = recording(async (call) => answers[call])
    const c = boundedCoordinator(inner, { timeoutMs: 100, store: STORE })
    expect(await c.heartbeat('m1')).toBeUndefined()
    expect(await c.leave('m2')).toBeUndefined()
    expect(await c.members()).toEqual(['m1', 'm2'])
    expect(await c.leases()).toEqual([lease])
    expect(await c.acquire('task-3', 'm1')).toBe(lease)
    expect(await c.renew(lease)).toEqual({ ...lease, revision: 8 })
    expect(await c.release(lease)).toBe(true)
    expect(await c.holds('task-3', 'm1', 2)).toBe(false)
    expect(calls).toEqual([
      ['heartbeat', 'm1'],
      ['leave', 'm2'],
      ['members'],
      ['leases'],
      ['acquire', 'task-3', 'm1'],
      ['renew', lease],
      ['release', lease],
      ['holds', 'task-3', 'm1', 2],
    ])
  })

  it('rejects a call that has not answered within the bound, naming the store and the call', async () => {
    const { inner } = recording(() => new Promise(() => undefined))
    const c = boundedCoordinator(inner, { timeoutMs: 2_500, store: STORE })
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['heartbeat(m1)', () => c.heartbeat('m1')],
      ['leave(m1)', () => c.leave('m1')],
      ['members()', () => c.members()],
      ['leases()', () => c.leases()],
      ['acquire(task-3)', () => c.acquire('task-3', 'm1')],
      ['renew(task-3)', () => c.renew(lease)],
      ['release(task-3)', () => c.release(lease)],
      ['holds(task-3, epoch 2)', () => c.holds('task-3', 'm1', 2)],
    ]
    for (const [name, call] of calls) {
      let settled = false
      const pending = rejectionOf(call().finally(() => (settled = true)))
      await vi.advanceTimersByTimeAsync(2_499)
      expect(settled).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      const error = await pending
      expect(error).toBeInstanceOf(CoordinatorUnavailableError)
      expect(error).toMatchObject({ store: STORE, call: name, message: `coordinator ${STORE}: ${name} did not answer within 2500 ms` })
    }
  })

  it('answers with a late-enough answer that still comes within the bound, and ignores one that comes after it', async () => {
    let answer!: (value: unknown) => void
    const { inner } = recording(() => new Promise((resolve) => (answer = resolve)))
    const c = boundedCoordinator(inner, { timeoutMs: 100, store: STORE })
    const inTime = c.members()
    await vi.advanceTimersByTimeAsync(99)
    answer(['m1'])
    expect(await inTime).toEqual(['m1'])
    const late = rejectionOf(c.members())
    await vi.advanceTimersByTimeAsync(100)
    answer(['m2'])
    expect(await late).toMatchObject({ message: `coordinator ${STORE}: members() did not answer within 100 ms` })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('names a failed call with the failure as its cause, whether it rejects or throws at once', async () => {
    const failure = new Error('connect ECONNREFUSED 10.0.0.5:6379')
    const rejecting = boundedCoordinator(recording(() => Promise.reject(failure)).inner, { timeoutMs: 100, store: STORE })
    const error = await rejectionOf(rejecting.renew(lease))
    expect(error).toBeInstanceOf(CoordinatorUnavailableError)
    expect(error).toMatchObject({ call: 'renew(task-3)', message: `coordinator ${STORE}: renew(task-3) failed: connect ECONNREFUSED 10.0.0.5:6379`, cause: failure })
    const throwing = boundedCoordinator(recording(() => { throw failure }).inner, { timeoutMs: 100, store: STORE })
    expect(await rejectionOf(throwing.acquire('t', 'm1'))).toMatchObject({ message: `coordinator ${STORE}: acquire(t) failed: connect ECONNREFUSED 10.0.0.5:6379`, cause: failure })
    const odd = boundedCoordinator(recording(() => Promise.reject('down')).inner, { timeoutMs: 100, store: STORE })
    expect(await rejectionOf(odd.leases())).toMatchObject({ message: `coordinator ${STORE}: leases() failed: down`, cause: 'down' })
    const nothing = boundedCoordinator(recording(() => Promise.reject(null)).inner, { timeoutMs: 100, store: STORE })
    expect(await rejectionOf(nothing.leases())).toMatchObject({ message: `coordinator ${STORE}: leases() failed: null`, cause: null })
  })

  it('passes on a foreign entry and an already named unavailability as they are', async () => {
    const foreign = new CoordinatorStateError('nats bucket x', 'lease.t', 'not JSON')
    const state = boundedCoordinator(recording(() => Promise.reject(foreign)).inner, { timeoutMs: 100, store: STORE })
    expect(await rejectionOf(state.holds('t', 'm1', 1))).toBe(foreign)
    const inner = new CoordinatorUnavailableError('inner store', 'leases()', 'failed: gone')
    const unavailable = boundedCoordinator(recording(() => Promise.reject(inner)).inner, { timeoutMs: 100, store: STORE })
    expect(await rejectionOf(unavailable.leases())).toBe(inner)
  })
})
