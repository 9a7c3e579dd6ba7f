/**
 * The small helpers of the engine on their own: the wait between triggers (on a fake clock), the query error's
 * message, waiting for a promise with a time-out, and reading a row's event time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { readEventTime } from '../../src/exec/eventTime.js'
import { queryError } from '../../src/exec/queryError.js'
import { TriggerWait } from '../../src/exec/triggerWait.js'
import { settledWithin } from '../../src/exec/withTimeout.js'
import { OperatorFailure, StreamingQueryError } from '../../src/errors.js'

/** Whether a promise has settled after the pending microtasks ran (on fake timers nothing else moves). */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await vi.advanceTimersByTimeAsync(0)
  return settled
}

describe('TriggerWait', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  function waiter() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const state = { stopping: false }
    return { state, wait: new TriggerWait(() => state.stopping) }
  }

  it('sleeps the whole time when nothing asks it to wake', async () => {
    const { wait } = waiter()
    const sleep = wait.sleep(100, true)
    await vi.advanceTimersByTimeAsync(99)
    expect(await hasSettled(sleep)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await hasSettled(sleep)).toBe(true)
  })

  it('wakes at once on a request made during the sleep', async () => {
    const { wait } = waiter()
    const sleep = wait.sleep(1000, true)
    await vi.advanceTimersByTimeAsync(10)
    wait.request()
    expect(await hasSettled(sleep)).toBe(true)
  })

  it('does not sleep at all after a request made while no sleep was going on, and only once', async () => {
    const { wait } = waiter()
    wait.request()
    expect(await hasSettled(wait.sleep(1000, true))).toBe(true)
    // The request was used up: the next sleep lasts.
    expect(await hasSettled(wait.sleep(1000, true))).toBe(false)
  })

  it('keeps a processing-time schedule: a request does not cut the sleep short, before it or during it', async () => {
    const { wait } = waiter()
    wait.request()
    const sleep = wait.sleep(100, false)
    expect(await hasSettled(sleep)).toBe(false)
    wait.request()
    await vi.advanceTimersByTimeAsync(99)
    expect(await hasSettled(sleep)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await hasSettled(sleep)).toBe(true)
  })

  it('ends even a processing-time sleep when the request comes from stopping, before it or during it', async () => {
    const { state, wait } = waiter()
    state.stopping = true
    wait.request()
    expect(await hasSettled(wait.sleep(1000, false))).toBe(true)
    state.stopping = false
    const sleep = wait.sleep(1000, false)
    expect(await hasSettled(sleep)).toBe(false)
    state.stopping = true
    wait.request()
    expect(await hasSettled(sleep)).toBe(true)
  })

  it('a sleep woken early does not leave the request behind for the next sleep', async () => {
    const { wait } = waiter()
    const first = wait.sleep(1000, true)
    wait.request()
    expect(await hasSettled(first)).toBe(true)
    expect(await hasSettled(wait.sleep(1000, true))).toBe(false)
  })

  it("the timer of a sleep woken early does not interfere with a later sleep's wake-up", async () => {
    const { wait } = waiter()
    const first = wait.sleep(100, true)
    wait.request()
    expect(await hasSettled(first)).toBe(true)
    const second = wait.sleep(1000, true)
    // The first sleep's 100 ms pass: its timer must be gone, not end or disarm the second sleep.
    await vi.advanceTimersByTimeAsync(200)
    expect(await hasSettled(second)).toBe(false)
    wait.request()
    expect(await hasSettled(second)).toBe(true)
  })

  it('a request made after a sleep ran its full time is kept for the next sleep', async () => {
    const { wait } = waiter()
    const first = wait.sleep(100, true)
    await vi.advanceTimersByTimeAsync(100)
    expect(await hasSettled(first)).toBe(true)
    wait.request()
    expect(await hasSettled(wait.sleep(1000, true))).toBe(true)
  })
})

describe('queryError', () => {
  const named = { id: 'ID', runId: 'RUN', name: 'counts' }

  it('names the query, its ids, the batch, the failed operator and the cause', () => {
    const error = queryError(new OperatorFailure('map #2', new Error('boom')), named, 7, 'MemorySink')
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error.message).toBe("query 'counts' [id = ID, runId = RUN] failed in batch 7 at map #2: boom")
    expect(error).toMatchObject({ batchId: 7, operator: 'map #2' })
    expect((error.cause as Error).message).toBe('boom')
  })

  it('blames the fallback operator for a failure that names none, and keeps the thrown value as the cause', () => {
    const cause = new Error('disk full')
    const error = queryError(cause, named, 3, 'MemorySink')
    expect(error.message).toBe("query 'counts' [id = ID, runId = RUN] failed in batch 3 at MemorySink: disk full")
    expect(error.operator).toBe('MemorySink')
    expect(error.cause).toBe(cause)
  })

  it('leaves out the name of an unnamed query and the operator when there is none', () => {
    const error = queryError('just a string', { id: 'ID', runId: 'RUN', name: undefined }, 0, undefined)
    expect(error.message).toBe('query [id = ID, runId = RUN] failed in batch 0: just a string')
    expect(error.operator).toBeUndefined()
    expect(error.cause).toBe('just a string')
  })

  it('passes a StreamingQueryError through unchanged', () => {
    const original = new StreamingQueryError('already said', undefined, 1, 'x')
    expect(queryError(original, named, 9, 'MemorySink')).toBe(original)
  })
})

describe('settledWithin', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('is true once the promise resolves, without a time-out', async () => {
    await expect(settledWithin(Promise.resolve('x'), undefined)).resolves.toBe(true)
  })

  it('waits as long as it takes without a time-out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const result = settledWithin(new Promise<void>((resolve) => setTimeout(resolve, 60_000)), undefined)
    await vi.advanceTimersByTimeAsync(59_999)
    expect(await hasSettled(result)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(result).resolves.toBe(true)
  })

  it('is true when the promise resolves in time, and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let resolve!: () => void
    const result = settledWithin(new Promise<void>((r) => (resolve = r)), 100)
    await vi.advanceTimersByTimeAsync(99)
    resolve()
    await expect(result).resolves.toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('is false when the time is up first, not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const result = settledWithin(new Promise<void>(() => {}), 100)
    await vi.advanceTimersByTimeAsync(99)
    expect(await hasSettled(result)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(result).resolves.toBe(false)
  })

  it("rejects with the promise's error, with or without a time-out", async () => {
    await expect(settledWithin(Promise.reject(new Error('failed')), undefined)).rejects.toThrow('failed')
    await expect(settledWithin(Promise.reject(new Error('failed')), 100)).rejects.toThrow('failed')
  })

  it('leaves no unhandled rejection when the promise rejects after the time-out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      let reject!: (e: Error) => void
      const result = settledWithin(new Promise<void>((_, r) => (reject = r)), 10)
      await vi.advanceTimersByTimeAsync(10)
      await expect(result).resolves.toBe(false)
      reject(new Error('too late'))
      vi.useRealTimers()
      await new Promise((r) => setTimeout(r, 5))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})

describe('readEventTime', () => {
  const failureOf = (timeOf: (row: unknown) => unknown): OperatorFailure => {
    try {
      readEventTime(timeOf, { ts: 1 }, 'withWatermark #1')
    } catch (e) {
      return e as OperatorFailure
    }
    throw new Error('expected readEventTime to throw')
  }

  it('returns the finite epoch ms the function gives for the row', () => {
    expect(readEventTime((row) => (row as { ts: number }).ts, { ts: 1234 }, 'op')).toBe(1234)
    expect(readEventTime(() => -5, {}, 'op')).toBe(-5)
  })

  it('blames the operator for a function that throws, keeping what it threw', () => {
    const thrown = new Error('no ts')
    const failure = failureOf(() => {
      throw thrown
    })
    expect(failure).toBeInstanceOf(OperatorFailure)
    expect(failure.operator).toBe('withWatermark #1')
    expect(failure.cause).toBe(thrown)
  })

  it.each([
    ['a string', '12', '"12"'],
    ['NaN', Number.NaN, 'null'],
    ['Infinity', Number.POSITIVE_INFINITY, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a Date', new Date(0), '"1970-01-01T00:00:00.000Z"'],
  ])('rejects %s as an event time with a TypeError naming what it got', (_, value, shown) => {
    const failure = failureOf(() => value)
    expect(failure).toBeInstanceOf(OperatorFailure)
    expect(failure.operator).toBe('withWatermark #1')
    expect(failure.cause).toBeInstanceOf(TypeError)
    expect((failure.cause as Error).message).toBe(`event time must be a finite number of epoch ms, got ${shown}`)
  })
})
