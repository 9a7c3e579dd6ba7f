import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { count, groupBy, map, type StreamingQuery, trigger } from '../../src/index.js'
import { startQuery } from './support.js'

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

const numbers = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe('triggers', () => {
  it('trigger.once() runs one batch of everything available, ignoring the rate limit, then stops by itself', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((n) => n * 2)), {
      outputMode: 'append',
      trigger: trigger.once(),
      maxRowsPerTrigger: 2,
      initial: numbers(0, 5),
    })
    expect(await q.query.awaitTermination(2000)).toBe(true)
    expect(q.query.isActive).toBe(false)
    expect(q.query.recentProgress.map((p) => p.numInputRows)).toEqual([5])
    expect(q.sink.rows()).toEqual([0, 2, 4, 6, 8])
  })

  it('trigger.once() with no data stops without running a batch', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((n) => n)), { outputMode: 'append', trigger: trigger.once() })
    expect(await q.query.awaitTermination(2000)).toBe(true)
    expect(q.query.recentProgress).toEqual([])
  })

  it('trigger.availableNow() drains what is there in batches of maxRowsPerTrigger, then stops by itself', async () => {
    const q = await startQuery<number, { key: string; count: number }>(
      (s) => s.pipe(groupBy((n) => (n % 2 === 0 ? 'even' : 'odd'), t.string), count()),
      { outputMode: 'complete', trigger: trigger.availableNow(), maxRowsPerTrigger: 2, initial: numbers(0, 5) },
    )
    expect(await q.query.awaitTermination(2000)).toBe(true)
    expect(q.query.recentProgress.map((p) => [p.batchId, p.numInputRows])).toEqual([
      [0, 2],
      [1, 2],
      [2, 1],
    ])
    expect(q.sink.rows()).toEqual([{ key: 'even', count: 3 }, { key: 'odd', count: 2 }])
  })

  it('trigger.availableNow() does not process rows added after the query started', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((n) => n)), {
      outputMode: 'append',
      trigger: trigger.availableNow(),
      maxRowsPerTrigger: 1,
      initial: numbers(0, 3),
    })
    q.input.addData([99])
    expect(await q.query.awaitTermination(2000)).toBe(true)
    expect(q.sink.rows()).toEqual([0, 1, 2])
  })

  it('the default trigger processes data as it arrives, rate-limited by maxRowsPerTrigger', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((n) => n)), { outputMode: 'append', maxRowsPerTrigger: 3 })
    started.push(q.query)
    await q.feed(numbers(0, 7))
    expect(q.query.recentProgress.map((p) => p.numInputRows)).toEqual([3, 3, 1])
    expect(q.sink.rows()).toEqual(numbers(0, 7))
  })

  it('trigger.processingTime reads durations as milliseconds', () => {
    expect(trigger.processingTime('10 seconds')).toEqual({ kind: 'processingTime', intervalMs: 10_000 })
    expect(trigger.processingTime(250)).toEqual({ kind: 'processingTime', intervalMs: 250 })
  })

  it('trigger.processingTime rejects what is not a duration with a RangeError', () => {
    expect(() => trigger.processingTime('every now and then')).toThrow(RangeError)
  })

  it('trigger.processingTime names itself in the error for a bad interval', () => {
    expect(() => trigger.processingTime('every now and then')).toThrow(
      "trigger.processingTime: cannot read duration 'every now and then' (try '10 seconds', '5 minutes' or a number of ms)",
    )
    expect(() => trigger.processingTime(-1)).toThrow('trigger.processingTime: expected a non-negative duration, got -1')
  })

  it('trigger.once() and trigger.availableNow() are plain descriptions of the trigger', () => {
    expect(trigger.once()).toEqual({ kind: 'once' })
    expect(trigger.availableNow()).toEqual({ kind: 'availableNow' })
  })

  it('trigger.processingTime(interval) starts batches no more often than the interval', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((n) => n)), {
      outputMode: 'append',
      trigger: trigger.processingTime(100),
      maxRowsPerTrigger: 1,
      initial: numbers(0, 3),
    })
    started.push(q.query)
    await q.query.processAllAvailable()
    const starts = q.query.recentProgress.map((p) => Date.parse(p.timestamp))
    expect(starts).toHaveLength(3)
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(190)
  })
})
