import { afterEach, describe, expect, it } from 'vitest'
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

  // Data added and processAllAvailable() called while a trigger is still finishing must not wait out the idle poll
  // (10 ms): 20 one-row batches take a few ms each.
  it('does not wait for the idle poll interval when data arrives right after the previous call resolved', async () => {
    const q = await identity()
    q.input.addData([0])
    await q.query.processAllAvailable()
    const start = performance.now()
    for (let i = 1; i <= 20; i++) {
      // No extra await between the two calls: this is the window in which the wake-up is lost.
      q.input.addData([i])
      await q.query.processAllAvailable()
    }
    const elapsed = performance.now() - start
    expect(q.sink.rows()).toHaveLength(21)
    expect(elapsed).toBeLessThan(20 * 10 * 0.75)
  })
})
