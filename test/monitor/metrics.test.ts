import * as t from 'io-ts'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { count, groupBy, map, sessionMetrics, type StreamingQuery, withWatermark } from '../../src/index.js'
import { at, startQuery } from '../exec/support.js'

interface Click {
  readonly user: string
  readonly ts: number
}

const running: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((q) => q.stop()))
})

/** The value of the one sample of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

async function clicksQuery(name = 'clicks') {
  const q = await startQuery<Click, unknown>(
    (s) => s.pipe(withWatermark((c) => c.ts, '10 seconds'), groupBy((c) => c.user, t.string), count()),
    { outputMode: 'update', queryName: name },
  )
  running.push(q.query)
  return q
}

describe('sessionMetrics', () => {
  it('publishes rows, batches, last batch id and activity of each query, labelled with its name and id', async () => {
    const q = await clicksQuery()
    const metrics = sessionMetrics(q.session)
    await q.feed([{ user: 'a', ts: at(1) }, { user: 'b', ts: at(2) }])
    await q.feed([{ user: 'a', ts: at(3) }])
    const text = await metrics.text()
    const labels = { query_name: 'clicks', query_id: q.query.id }
    expect(sample(text, 'structured_rx_input_rows_total', labels)).toBe(3)
    expect(sample(text, 'structured_rx_output_rows_total', labels)).toBe(3)
    expect(sample(text, 'structured_rx_batches_total', labels)).toBe(2)
    expect(sample(text, 'structured_rx_last_batch_id', labels)).toBe(1)
    expect(sample(text, 'structured_rx_query_active', labels)).toBe(1)
    expect(sample(text, 'structured_rx_query_failed', labels)).toBe(0)
    expect(sample(text, 'structured_rx_batch_duration_seconds_count', labels)).toBe(2)
    expect(sample(text, 'structured_rx_processed_rows_per_second', labels)).toBe(q.query.lastProgress!.processedRowsPerSecond)
    metrics.close()
  })

  it('publishes state rows and memory per operator, and the phases of the last batch', async () => {
    const q = await clicksQuery()
    const metrics = sessionMetrics(q.session)
    await q.feed([{ user: 'a', ts: at(1) }, { user: 'b', ts: at(2) }, { user: 'c', ts: at(2) }])
    const text = await metrics.text()
    const op = q.query.lastProgress!.stateOperators[0]!
    const labels = { query_id: q.query.id, operator: op.operatorName }
    expect(sample(text, 'structured_rx_state_rows', labels)).toBe(3)
    expect(sample(text, 'structured_rx_state_memory_bytes', labels)).toBe(op.memoryUsedBytes)
    expect(sample(text, 'structured_rx_rows_dropped_by_watermark_total', labels)).toBe(0)
    for (const phase of ['latestOffset', 'getBatch', 'queryPlanning', 'addBatch', 'walCommit', 'commitOffsets', 'triggerExecution']) {
      expect(sample(text, 'structured_rx_batch_phase_duration_seconds', { query_id: q.query.id, phase })).toBeGreaterThanOrEqual(0)
    }
    metrics.close()
  })

  it('counts late rows the watermark dropped', async () => {
    const q = await startQuery<Click, unknown>(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, '10 seconds'),
          groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } }),
          count(),
        ),
      { outputMode: 'update', queryName: 'windowed' },
    )
    running.push(q.query)
    const metrics = sessionMetrics(q.session)
    await q.feed([{ user: 'a', ts: at(100) }])
    await q.feed([{ user: 'a', ts: at(101) }])
    await q.feed([{ user: 'late', ts: at(1) }, { user: 'late', ts: at(2) }])
    const text = await metrics.text()
    const dropped = q.query.recentProgress.reduce((n, p) => n + p.stateOperators[0]!.numRowsDroppedByWatermark, 0)
    expect(dropped).toBe(2)
    expect(sample(text, 'structured_rx_rows_dropped_by_watermark_total', { query_id: q.query.id })).toBe(dropped)
    metrics.close()
  })

  it('reports the watermark lag as now minus the watermark', async () => {
    const q = await clicksQuery()
    const metrics = sessionMetrics(q.session)
    await q.feed([{ user: 'a', ts: Date.now() - 60_000 }])
    await q.feed([{ user: 'a', ts: Date.now() - 60_000 }])
    const before = Date.now()
    const lag = sample(await metrics.text(), 'structured_rx_watermark_lag_seconds', { query_id: q.query.id })!
    const watermark = Date.parse(q.query.lastProgress!.eventTime.watermark!)
    expect(lag).toBeGreaterThanOrEqual((before - watermark) / 1000)
    expect(lag).toBeLessThan((Date.now() - watermark) / 1000 + 1)
    metrics.close()
  })

  it('marks a stopped query inactive and a failed one failed', async () => {
    const ok = await startQuery<number, number>((s) => s.pipe(map((x) => x)), { outputMode: 'append', queryName: 'ok' })
    const metrics = sessionMetrics(ok.session)
    const bad = await ok.session
      .readStream(ok.input.source)
      .pipe(map((x: number) => { if (x === 2) throw new Error('boom'); return x }))
      .writeStream({ outputMode: 'append', sink: { description: 'nowhere', open: async () => ({ addBatch: async () => {} }) }, queryName: 'bad' })
      .start()
    await ok.feed([1, 2])
    await expect(bad.awaitTermination()).rejects.toThrow('boom')
    await ok.query.stop()
    const text = await metrics.text()
    expect(sample(text, 'structured_rx_query_active', { query_name: 'ok' })).toBe(0)
    expect(sample(text, 'structured_rx_query_failed', { query_name: 'ok' })).toBe(0)
    expect(sample(text, 'structured_rx_query_active', { query_name: 'bad' })).toBe(0)
    expect(sample(text, 'structured_rx_query_failed', { query_name: 'bad' })).toBe(1)
    metrics.close()
  })

  it('keeps the series of only the most recently terminated queries', async () => {
    const first = await startQuery<number, number>((s) => s.pipe(map((x) => x)), { outputMode: 'append', queryName: 'q0' })
    const metrics = sessionMetrics(first.session, { retainTerminated: 2 })
    await first.query.stop()
    for (const name of ['q1', 'q2']) {
      const q = await first.session.readStream(first.input.source).writeStream({ outputMode: 'append', sink: first.sink, queryName: name }).start()
      await q.stop()
    }
    const text = await metrics.text()
    expect(sample(text, 'structured_rx_query_active', { query_name: 'q0' })).toBeUndefined()
    expect(sample(text, 'structured_rx_query_active', { query_name: 'q1' })).toBe(0)
    expect(sample(text, 'structured_rx_query_active', { query_name: 'q2' })).toBe(0)
    metrics.close()
  })

  it('registers in a given registry, refuses a second set of series there, and removes its series on close', async () => {
    const q = await clicksQuery()
    const registry = new Registry()
    const metrics = sessionMetrics(q.session, { registry })
    expect(() => sessionMetrics(q.session, { registry })).toThrow(/already holds structured_rx_ series/)
    expect(await registry.metrics()).toContain('structured_rx_query_active')
    metrics.close()
    expect(await registry.metrics()).not.toContain('structured_rx_')
  })

  it('names every series structured_rx_ with units in the name and _total only on counters', async () => {
    const q = await clicksQuery()
    const metrics = sessionMetrics(q.session)
    await q.feed([{ user: 'a', ts: at(1) }])
    const json = await metrics.registry.getMetricsAsJSON()
    for (const m of json) {
      expect(m.name).toMatch(/^structured_rx_[a-z_]+$/)
      expect(m.help.length).toBeGreaterThan(10)
      expect(m.name.endsWith('_total')).toBe(String(m.type) === 'counter')
    }
    metrics.close()
  })
})
