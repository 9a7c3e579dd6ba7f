import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { withTimeout } from '../../src/util/timeout.js'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('withTimeout: a promise, or a fallback once the time is up', () => {
  it('resolves with the promise when it settles in time, and leaves no timer behind', async () => {
    const result = withTimeout(Promise.resolve('done'), 1000, 'late')
    await expect(result).resolves.toBe('done')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('resolves with the fallback when the time is up first, and leaves no timer behind', async () => {
    const result = withTimeout(new Promise<string>(() => {}), 1000, 'late')
    await vi.advanceTimersByTimeAsync(999)
    let settled = false
    void result.then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(result).resolves.toBe('late')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('rejects with the promise’s error when it rejects in time', async () => {
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, false)).rejects.toThrow('boom')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('waits without limit when no time is given', async () => {
    let release: (v: string) => void = () => {}
    const result = withTimeout(new Promise<string>((r) => (release = r)), undefined, 'late')
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(10 ** 9)
    release('done')
    await expect(result).resolves.toBe('done')
  })
})
