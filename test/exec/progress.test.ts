import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { count, groupBy, map, type StreamingQuery, type StreamingQueryProgress, withWatermark } from '../../src/index.js'
import { at, startQuery } from './support.js'

interface Click {
  readonly user: string
  readonly ts: number
}
const click = (user: string, seconds: number): Click => ({ user, ts: at(seconds) })

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

async function countsWithWatermark() {
  const q = await startQuery<Click, unknown>(
    (s) => s.pipe(withWatermark((c) => c.ts, '10 seconds'), groupBy((c) => c.user, t.string), count()),
    { outputMode: 'update', queryName: 'clicks' },
  )
  started.push(q.query)
  return q
}

describe('query progress', () => {
  it('numbers batches from 0, one more per batch', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1)])
    await q.feed([click('b', 2)])
    await q.feed([click('a', 3)])
    expect(q.query.recentProgress.map((p) => p.batchId)).toEqual([0, 1, 2])
  })

  it('counts the input rows of each batch, for the query and for its source', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1), click('b', 1), click('a', 2)])
    expect(q.query.lastProgress).toMatchObject({ numInputRows: 3, sources: [{ numInputRows: 3 }] })
  })

  it("reports the memory source's start and end offsets (row counts) of each batch, null as a first batch's start", async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1), click('b', 1), click('a', 2)])
    await q.feed([click('c', 3), click('c', 4)])
    expect(q.query.recentProgress.map((p) => [p.sources[0]?.startOffset, p.sources[0]?.endOffset])).toEqual([
      [null, 3],
      [3, 5],
    ])
  })

  it('times the phases of a batch in durationMs, with Spark names', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1)])
    const durations = q.query.lastProgress?.durationMs ?? {}
    expect(Object.keys(durations).sort()).toEqual(
      ['addBatch', 'commitOffsets', 'getBatch', 'getOffset', 'latestOffset', 'queryPlanning', 'triggerExecution', 'walCommit'].sort(),
    )
    for (const ms of Object.values(durations)) expect(ms).toBeGreaterThanOrEqual(0)
  })

  it('reports event-time min, max, avg and the watermark as ISO-8601 strings', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 20)])
    await q.feed([click('a', 30), click('b', 40)])
    expect(q.query.lastProgress?.eventTime).toEqual({
      min: new Date(at(30)).toISOString(),
      max: new Date(at(40)).toISOString(),
      avg: new Date(at(35)).toISOString(),
      watermark: new Date(at(10)).toISOString(),
    })
  })

  it('reports no event time for a query without a watermark', async () => {
    const q = await startQuery<Click, Click>((s) => s.pipe(map((c) => c)), { outputMode: 'append' })
    started.push(q.query)
    await q.feed([click('a', 1)])
    expect(q.query.lastProgress?.eventTime).toEqual({})
    expect(q.query.lastProgress?.stateOperators).toEqual([])
  })

  it('reports each stateful operator: its name, the rows it holds, updated this batch, and memory', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1), click('b', 1)])
    await q.feed([click('a', 2)])
    expect(q.query.lastProgress?.stateOperators).toEqual([
      expect.objectContaining({
        operatorName: 'count',
        numRowsTotal: 2,
        numRowsUpdated: 1,
        numRowsRemoved: 0,
        numRowsDroppedByWatermark: 0,
        memoryUsedBytes: expect.any(Number),
      }),
    ])
    expect(q.query.lastProgress?.stateOperators[0]?.memoryUsedBytes).toBeGreaterThan(0)
  })

  it('reports the rows the sink received', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1), click('b', 1), click('a', 2)])
    expect(q.query.lastProgress?.sink).toEqual({ description: 'MemorySink', numOutputRows: 2 })
  })

  it('carries the query id, run id and name, and a timestamp', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1)])
    const p = q.query.lastProgress
    expect(p).toMatchObject({ id: q.query.id, runId: q.query.runId, name: 'clicks' })
    expect(new Date(p?.timestamp ?? '').toISOString()).toBe(p?.timestamp)
  })

  it('serializes with json() and prettyJson() methods, and JSON.stringify gives the same fields once', async () => {
    const q = await countsWithWatermark()
    await q.feed([click('a', 1)])
    const p = q.query.lastProgress as StreamingQueryProgress
    const parsed = JSON.parse(p.json()) as Record<string, unknown>
    expect(Object.keys(parsed)).toEqual(Object.keys(p))
    expect(parsed).toMatchObject({ id: p.id, batchId: 0, numInputRows: 1, durationMs: p.durationMs, sources: [{ numInputRows: 1 }] })
    expect(JSON.parse(p.prettyJson())).toEqual(parsed)
    expect(p.prettyJson()).toContain('\n  "id": ')
    expect(JSON.stringify(p)).toBe(p.json())
    expect(parsed).not.toHaveProperty('json')
  })

  it('emits every progress on progress$ as it happens', async () => {
    const q = await countsWithWatermark()
    const seen: number[] = []
    const subscription = q.query.progress$.subscribe((p) => seen.push(p.batchId))
    await q.feed([click('a', 1)])
    await q.feed([click('a', 2)])
    subscription.unsubscribe()
    expect(seen).toEqual([0, 1])
  })

  it('is undefined before the first batch', async () => {
    const q = await countsWithWatermark()
    expect(q.query.lastProgress).toBeUndefined()
    expect(q.query.recentProgress).toEqual([])
  })
})
