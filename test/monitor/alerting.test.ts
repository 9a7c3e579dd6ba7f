import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  type Alert,
  alerting,
  createSession,
  count,
  fallingBehind,
  foreachBatch,
  groupBy,
  map,
  memorySource,
  queryFailed,
  rateSource,
  slowBatch,
  stalled,
  stateGrowth,
  type StreamingQuery,
} from '../../src/index.js'
import { startQuery } from '../exec/support.js'
import { cleanupAfterEach, firstMatching, recordingServer, sleep } from './support.js'

const later = cleanupAfterEach()
const stopLater = (q: StreamingQuery) => later(() => q.stop())

/** Spins for `ms`: a user function that is genuinely slow, as CPU-bound work is. */
function busy(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end);
}

describe('alerting', () => {
  it('raises fallingBehind on a query slower than its input, then resolves it when the query catches up, also on the webhook', async () => {
    const hook = await recordingServer([503])
    later(() => hook.close())
    const session = createSession()
    const slow = { on: true }
    const alerts = alerting(session, { rules: [fallingBehind({ batches: 2 })], webhook: { url: hook.url, backoffMs: 20 } })
    const seen: Alert[] = []
    alerts.alerts$.subscribe((a) => seen.push(a))
    // 100 rows/s arrive; each row costs 20 ms while `slow`, so at most 50 rows/s are processed and every batch is
    // about twice the size of the one before (more on a loaded machine, where a row costs more).
    const query = await session
      .readStream(rateSource({ rowsPerSecond: 100 }))
      .pipe(map((r) => (slow.on && busy(20), r.value)))
      .writeStream({ outputMode: 'append', sink: foreachBatch(() => {}), queryName: 'slow' })
      .start()
    stopLater(query)
    const firing = await firstMatching(alerts.alerts$, (a) => a.state === 'firing')
    expect(firing).toMatchObject({ rule: 'fallingBehind', queryId: query.id, queryName: 'slow', state: 'firing' })
    expect(firing.details['inputRowsPerSecond']).toBeGreaterThan(firing.details['processedRowsPerSecond'] as number)
    expect(alerts.active()).toEqual([firing])
    slow.on = false
    const resolved = await firstMatching(alerts.alerts$, (a) => a.state === 'resolved')
    expect(resolved).toMatchObject({ rule: 'fallingBehind', queryId: query.id, since: firing.since })
    expect(alerts.active()).toEqual([])
    await query.stop()
    await alerts.close()
    expect(seen.map((a) => a.state)).toEqual(['firing', 'resolved'])
    // The first POST got a 503 and was retried: the webhook holds each alert once, in order.
    const bodies = hook.received.map((r) => JSON.parse(r.body) as Alert)
    expect(hook.received.length).toBe(3)
    expect(bodies.slice(1).map((a) => a.state)).toEqual(['firing', 'resolved'])
    expect(bodies[0]).toEqual(bodies[1])
    expect(hook.received[0]!.headers['content-type']).toBe('application/json')
  })

  it('raises stalled while a batch hangs in the sink, and resolves it when the batch completes', async () => {
    const session = createSession()
    const input = memorySource<number>()
    let release!: () => void
    const hung = new Promise<void>((resolve) => (release = resolve))
    const alerts = alerting(session, { rules: [stalled({ after: 200 })] })
    const query = await session.readStream(input.source).writeStream({ outputMode: 'append', sink: foreachBatch(() => hung) }).start()
    stopLater(query)
    input.addData([1])
    const firing = await firstMatching(alerts.alerts$, (a) => a.state === 'firing')
    expect(firing).toMatchObject({ rule: 'stalled', queryId: query.id })
    expect(firing.message).toContain('Processing new data')
    release()
    await firstMatching(alerts.alerts$, (a) => a.state === 'resolved')
    await alerts.close()
  })

  it('never calls an idle query stalled', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((x) => x)), { outputMode: 'append' })
    stopLater(q.query)
    const alerts = alerting(q.session, { rules: [stalled({ after: 50 })] })
    const seen: Alert[] = []
    alerts.alerts$.subscribe((a) => seen.push(a))
    await q.feed([1])
    await sleep(600)
    expect(seen).toEqual([])
    await alerts.close()
  })

  it('raises slowBatch for a batch over the bound, and resolves it at the next batch within it', async () => {
    const session = createSession()
    const input = memorySource<string>()
    const alerts = alerting(session, { rules: [slowBatch({ over: 100 })] })
    const seen: Alert[] = []
    alerts.alerts$.subscribe((a) => seen.push(a))
    const query = await session
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: foreachBatch((rows) => (rows[0] === 'slow' ? sleep(200) : undefined)) })
      .start()
    stopLater(query)
    for (const row of ['slow', 'slow', 'fast']) {
      input.addData([row])
      await query.processAllAvailable()
    }
    expect(seen.map((a) => [a.rule, a.state, a.details['batchId']])).toEqual([
      ['slowBatch', 'firing', 0],
      ['slowBatch', 'resolved', 0],
    ])
    await alerts.close()
  })

  it('raises queryFailed with the error, and resolves it when the query starts again on its checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-alert-'))
    later(() => rm(dir, { recursive: true, force: true }))
    const session = createSession()
    const alerts = alerting(session, { rules: [queryFailed()] })
    const input = memorySource<number>()
    const start = (failOn: number) =>
      session
        .readStream(input.source)
        .pipe(map((x: number) => { if (x === failOn) throw new Error(`bad row ${x}`); return x }))
        .writeStream({ outputMode: 'append', sink: foreachBatch(() => {}), checkpointLocation: dir, queryName: 'fragile' })
        .start()
    const first = await start(7)
    input.addData([7])
    const firing = await firstMatching(alerts.alerts$, (a) => a.state === 'firing')
    expect(firing).toMatchObject({ rule: 'queryFailed', queryId: first.id, queryName: 'fragile' })
    expect(firing.message).toContain('bad row 7')
    const resolvedLater = firstMatching(alerts.alerts$, (a) => a.state === 'resolved')
    const second = await start(-1)
    stopLater(second)
    expect(second.id).toBe(first.id)
    expect(await resolvedLater).toMatchObject({ rule: 'queryFailed', since: firing.since })
    await alerts.close()
  })

  it('raises stateGrowth once per episode while state grows, and resolves it when growth stops', async () => {
    const q = await startQuery<string, unknown>((s) => s.pipe(groupBy((k) => k, t.string), count()), { outputMode: 'update' })
    stopLater(q.query)
    const alerts = alerting(q.session, { rules: [stateGrowth({ batches: 2 })] })
    const seen: Alert[] = []
    alerts.alerts$.subscribe((a) => seen.push(a))
    for (const rows of [['a'], ['b'], ['c'], ['d'], ['a'], ['e']]) await q.feed(rows)
    expect(seen.map((a) => [a.state, a.details['batchId']])).toEqual([['firing', 2], ['resolved', 2]])
    expect(seen[0]!.details['stateRows']).toBe(3)
    await alerts.close()
  })

  it('raises stateGrowth when state rows pass a bound', async () => {
    const q = await startQuery<string, unknown>((s) => s.pipe(groupBy((k) => k, t.string), count()), { outputMode: 'update' })
    stopLater(q.query)
    const alerts = alerting(q.session, { rules: [stateGrowth({ rows: 2 })] })
    await q.feed(['a', 'b'])
    expect(alerts.active()).toEqual([])
    await q.feed(['c'])
    expect(alerts.active()).toMatchObject([{ rule: 'stateGrowth', state: 'firing', details: { stateRows: 3, boundRows: 2 } }])
    await alerts.close()
  })

  it('reports a throwing rule and keeps the query and the other rules running', async () => {
    const warnings: string[] = []
    const q = await startQuery<string, unknown>((s) => s.pipe(groupBy((k) => k, t.string), count()), { outputMode: 'update' })
    stopLater(q.query)
    const broken = { name: 'broken', watch: () => ({ batch: () => { throw new Error('rule bug') } }) }
    const alerts = alerting(q.session, { rules: [broken, stateGrowth({ rows: 1 })], warn: (m) => warnings.push(m) })
    await q.feed(['a', 'b'])
    await q.feed(['c'])
    expect(q.query.isActive).toBe(true)
    expect(alerts.active().map((a) => a.rule)).toEqual(['stateGrowth'])
    expect(warnings[0]).toMatch(/rule 'broken' failed \(ignored\): rule bug/)
    await alerts.close()
  })

  it('refuses two rules with the same name and a webhook that is not http', () => {
    const session = createSession()
    expect(() => alerting(session, { rules: [queryFailed(), queryFailed()] })).toThrow(/two rules are named 'queryFailed'/)
    expect(() => alerting(session, { rules: [], webhook: { url: 'file:///etc/passwd' } })).toThrow(/must be http\(s\)/)
    expect(() => stalled({ after: 'soon' })).toThrow(/cannot read duration 'soon'/)
    expect(() => fallingBehind({ batches: 0 })).toThrow(/batches must be a positive integer/)
  })

  it('gives up a webhook alert after its attempts, with a warning, without holding the query', async () => {
    const hook = await recordingServer([500, 500])
    later(() => hook.close())
    const warnings: string[] = []
    const q = await startQuery<string, unknown>((s) => s.pipe(groupBy((k) => k, t.string), count()), { outputMode: 'update' })
    stopLater(q.query)
    const alerts = alerting(q.session, {
      rules: [stateGrowth({ rows: 1 })],
      webhook: { url: hook.url, attempts: 2, backoffMs: 10 },
      warn: (m) => warnings.push(m),
    })
    await q.feed(['a', 'b'])
    await alerts.close()
    expect(hook.received.length).toBe(2)
    expect(warnings).toEqual([expect.stringMatching(/failed 2 times, alert given up: HTTP 500/)])
  })
})
