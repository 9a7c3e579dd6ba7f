import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { count, dropDuplicates, groupBy, type StreamingQuery, withWatermark } from '../../src/index.js'
import { at, type Running, startQuery } from './support.js'

interface Click {
  readonly user: string
  readonly ts: number
}
type Windowed = { key: string; window: { start: number; end: number }; count: number }

const click = (user: string, seconds: number): Click => ({ user, ts: at(seconds) })
const windowOf = (fromSeconds: number) => ({ start: at(fromSeconds), end: at(fromSeconds + 10) })

/** Tumbling 10-second windows counted per user, behind a watermark of `delay`. */
function windowedCounts(outputMode: 'append' | 'update' | 'complete', delay = '5 seconds'): Promise<Running<Click, Windowed>> {
  return startQuery<Click, Windowed>(
    (s) =>
      s.pipe(
        withWatermark((c) => c.ts, delay),
        groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } }),
        count(),
      ),
    { outputMode },
  )
}

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})
async function track<T, R>(running: Promise<Running<T, R>>): Promise<Running<T, R>> {
  const r = await running
  started.push(r.query)
  return r
}

describe('watermark', () => {
  /** One millisecond before 15 s: with a 5-second delay, the watermark stops one millisecond before 10 s. */
  const justBefore15 = (user: string): Click => ({ user, ts: at(15) - 1 })

  it('neither emits nor evicts a window whose end is one millisecond above the watermark (append); a row then joins it', async () => {
    const q = await track(windowedCounts('append'))
    await q.feed([click('a', 2), justBefore15('a')])
    expect(q.sink.rows()).toEqual([])
    await q.feed([click('a', 9)])
    // The batch of the row at 9 s ran with the watermark one millisecond below the window's end, and kept the row.
    expect(q.query.lastProgress?.eventTime.watermark).toBe(new Date(at(10) - 1).toISOString())
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(0)
    expect(q.sink.rows()).toEqual([])
    await q.feed([click('b', 16)]) // the watermark passes 10 s: [0, 10) closes with both rows
    expect(q.sink.rows()).toEqual([{ key: 'a', window: windowOf(0), count: 2 }])
  })

  it('keeps the state of a window whose end is one millisecond above the watermark (update): a row then counts on', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 2), justBefore15('a')])
    await q.feed([click('a', 9)])
    const last = q.batches.get(q.query.lastProgress!.batchId)
    expect(last).toEqual([{ key: 'a', window: windowOf(0), count: 2 }])
  })

  it('drops rows whose window ended at or before the watermark and counts them in numRowsDroppedByWatermark', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 20)]) // watermark moves to 15 s
    await q.feed([click('a', 1), click('a', 9), click('a', 18)]) // window [0, 10) ended at 10 s ≤ 15 s: late
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(2)
    expect(q.sink.rows()).toEqual([
      { key: 'a', window: windowOf(20), count: 1 },
      { key: 'a', window: windowOf(10), count: 1 },
    ])
  })

  it('keeps rows of a window that ends after the watermark, even if they arrive late in processing order', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 12)]) // watermark 7 s
    await q.feed([click('a', 8)]) // window [0, 10) still open
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(0)
    expect(q.sink.rows()).toContainEqual({ key: 'a', window: windowOf(0), count: 1 })
  })

  it('uses for each batch the watermark computed from the batches before it, not from its own rows', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 30), click('a', 1)]) // one batch: the watermark is still epoch 0 while it runs
    const [batch] = q.query.recentProgress
    expect(batch?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(0)
    expect(batch?.eventTime.watermark).toBe(new Date(0).toISOString())
    expect(q.sink.rows()).toContainEqual({ key: 'a', window: windowOf(0), count: 1 })
  })

  it('in append mode emits a window once, in a no-data batch, after the watermark passes its end', async () => {
    const q = await track(windowedCounts('append'))
    await q.feed([click('a', 1), click('a', 2)])
    expect(q.sink.rows()).toEqual([])
    await q.feed([click('a', 16)]) // watermark becomes 11 s > end of [0, 10)
    expect(q.sink.rows()).toEqual([{ key: 'a', window: windowOf(0), count: 2 }])
    const noDataBatch = q.query.recentProgress.at(-1)
    expect(noDataBatch).toMatchObject({ batchId: 2, numInputRows: 0, sink: { numOutputRows: 1 } })
  })

  it('in append mode never emits a window twice, whatever comes after', async () => {
    const q = await track(windowedCounts('append'))
    await q.feed([click('a', 1)])
    await q.feed([click('a', 16)])
    await q.feed([click('a', 17), click('b', 18)])
    await q.feed([click('a', 40)]) // closes [10, 20)
    expect(q.sink.rows()).toEqual([
      { key: 'a', window: windowOf(0), count: 1 },
      { key: 'a', window: windowOf(10), count: 2 },
      { key: 'b', window: windowOf(10), count: 1 },
    ])
  })

  it('in append mode emits nothing for windows the watermark has not passed', async () => {
    const q = await track(windowedCounts('append'))
    await q.feed([click('a', 1), click('a', 14)]) // watermark 9 s < 10 s
    expect(q.sink.rows()).toEqual([])
    expect(q.query.lastProgress?.batchId).toBe(0)
  })

  it('evicts state of windows behind the watermark: numRowsTotal falls and numRowsRemoved counts them', async () => {
    const q = await track(windowedCounts('append'))
    await q.feed([click('a', 1), click('b', 2)])
    await q.feed([click('a', 16)])
    const [dataBatch, noDataBatch] = q.query.recentProgress.slice(-2)
    expect(dataBatch?.stateOperators[0]).toMatchObject({ numRowsTotal: 3 })
    expect(noDataBatch?.stateOperators[0]).toMatchObject({ numRowsTotal: 1, numRowsRemoved: 2 })
  })

  it('in update mode also evicts windows behind the watermark', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 1)])
    await q.feed([click('a', 16)])
    expect(q.query.lastProgress?.stateOperators[0]).toMatchObject({ numRowsTotal: 1 })
    expect(q.sink.rows()).toHaveLength(2)
  })

  it('in complete mode keeps every window and drops no late row', async () => {
    const q = await track(windowedCounts('complete'))
    await q.feed([click('a', 30)])
    await q.feed([click('a', 1)])
    expect(q.query.lastProgress?.stateOperators[0]).toMatchObject({ numRowsTotal: 2, numRowsDroppedByWatermark: 0 })
    expect(q.sink.rows()).toHaveLength(2)
  })

  it('reports the watermark of each batch in progress as an ISO-8601 string', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 20)])
    await q.feed([click('a', 21)])
    expect(q.query.lastProgress?.eventTime.watermark).toBe(new Date(at(15)).toISOString())
  })

  it('never moves the watermark backwards', async () => {
    const q = await track(windowedCounts('update'))
    await q.feed([click('a', 20)])
    await q.feed([click('a', 12)])
    await q.feed([click('a', 13)])
    expect(q.query.lastProgress?.eventTime.watermark).toBe(new Date(at(15)).toISOString())
  })
})

describe('dropDuplicates within a watermark', () => {
  const dedup = () =>
    track(
      startQuery<Click, Click>(
        (s) => s.pipe(withWatermark((c) => c.ts, '10 seconds'), dropDuplicates((c) => c.user, t.string, { within: (c) => c.ts })),
        { outputMode: 'append' },
      ),
    )

  it('drops a duplicate that arrives within the delay of the first row of its key, across batches', async () => {
    const q = await dedup()
    await q.feed([click('a', 1)])
    await q.feed([click('a', 9)])
    expect(q.sink.rows()).toEqual([click('a', 1)])
  })

  it('forgets a key once the watermark passes its first event time plus the delay', async () => {
    const q = await dedup()
    await q.feed([click('a', 1)]) // expires at 11 s
    await q.feed([click('b', 25)]) // watermark 15 s: 'a' is forgotten (in a no-data batch)
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsTotal).toBe(1)
    await q.feed([click('a', 26)])
    expect(q.sink.rows()).toEqual([click('a', 1), click('b', 25), click('a', 26)])
  })

  it('drops rows behind the watermark and counts them', async () => {
    const q = await dedup()
    await q.feed([click('a', 30)]) // watermark 20 s
    await q.feed([click('b', 5)])
    expect(q.sink.rows()).toEqual([click('a', 30)])
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(1)
  })

  it('without within keeps every key forever', async () => {
    const q = await track(
      startQuery<Click, Click>((s) => s.pipe(withWatermark((c) => c.ts, 0), dropDuplicates((c) => c.user, t.string)), {
        outputMode: 'append',
      }),
    )
    await q.feed([click('a', 1)])
    await q.feed([click('b', 1000)])
    await q.feed([click('a', 2000)])
    expect(q.sink.rows()).toEqual([click('a', 1), click('b', 1000)])
    expect(q.query.lastProgress?.stateOperators[0]?.numRowsTotal).toBe(2)
  })
})
