import { afterEach, describe, expect, it, vi } from 'vitest'
import { map, type StreamingQuery } from '../../src/index.js'
import { startQuery } from './support.js'

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

async function identity() {
  const q = await startQuery<number, number>((s) => s.pipe(map((n) => n)), { outputMode: 'append' })
  started.push(q.query)
  return q
}

describe('processAllAvailable()', () => {
  it('resolves once the rows added before it are committed to the sink', async () => {
    const q = await identity()
    q.input.addData([1, 2])
    q.input.addData([3])
    await q.query.processAllAvailable()
    expect(q.sink.rows()).toEqual([1, 2, 3])
  })

  it('resolves when there is nothing to process', async () => {
    const q = await identity()
    await q.query.processAllAvailable()
    expect(q.query.recentProgress).toEqual([])
  })

  it('resolves at once on a stopped query', async () => {
    const q = await identity()
    await q.query.stop()
    await q.query.processAllAvailable()
    expect(q.query.isActive).toBe(false)
  })

  // Data added and processAllAvailable() called while a trigger is still finishing must wake the loop, not wait out
  // the idle poll. With the timers faked, the idle poll never fires by itself: each call must resolve within event-loop
  // turns alone, which a lost wake-up cannot do however loaded the machine is.
  it('does not wait for the idle poll when data arrives right after the previous call resolved', async () => {
    const q = await identity()
    q.input.addData([0])
    await q.query.processAllAvailable()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      for (let i = 1; i <= 20; i++) {
        // No extra await between the two calls: this is the window in which the wake-up is lost.
        q.input.addData([i])
        expect(await settlesWithoutTimers(q.query.processAllAvailable()), `processAllAvailable() after row ${i}`).toBe(true)
      }
    } finally {
      vi.useRealTimers()
    }
    expect(q.sink.rows()).toEqual(Array.from({ length: 21 }, (_, i) => i))
  })
})

/** Whether `promise` settles within event-loop turns alone (fake timers hold every setTimeout back). */
async function settlesWithoutTimers(promise: Promise<unknown>, turns = 10_000): Promise<boolean> {
  let settled = false
  void promise.then(() => (settled = true))
  for (let i = 0; i < turns && !settled; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  return settled
}
