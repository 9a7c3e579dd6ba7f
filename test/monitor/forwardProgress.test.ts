import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  avg,
  createSession,
  type ForwardedEvent,
  filter,
  forwardProgress,
  groupBy,
  jsonFiles,
  jsonFilesSink,
  map,
  memorySink,
  memorySource,
  readJsonFilesSink,
  type Sink,
  trigger,
  withWatermark,
} from '../../src/index.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-forward-'))
  dirs.push(dir)
  return dir
}

/** Runs a doubling query named `name` over `batches` batches of rows, in `session`. */
async function runQuery(session: ReturnType<typeof createSession>, name: string, batches: number[][]) {
  const input = memorySource<number>()
  const q = await session.readStream(input.source).pipe(map((x: number) => x * 2)).writeStream({ outputMode: 'append', sink: memorySink(), queryName: name }).start()
  for (const rows of batches) {
    input.addData(rows)
    await q.processAllAvailable()
  }
  await q.stop()
  return q
}

describe('forwardProgress', () => {
  it('writes every event of every query to the sink, each progress exactly once', async () => {
    const dir = await tempDir()
    const session = createSession()
    const fwd = await forwardProgress(session, jsonFilesSink(dir) as Sink<ForwardedEvent>, { intervalMs: 10 })
    const q = await runQuery(session, 'doubler', [[1, 2], [3], [4, 5, 6]])
    await fwd.close()
    const events = await readJsonFilesSink<ForwardedEvent>(dir)
    expect(events.filter((e) => e.type === 'started')).toMatchObject([{ id: q.id, runId: q.runId, name: 'doubler' }])
    expect(events.filter((e) => e.type === 'terminated')).toMatchObject([{ id: q.id, runId: q.runId }])
    const progress = events.filter((e) => e.type === 'progress').map((e) => e.progress!)
    expect(progress.map((p) => [p.batchId, p.numInputRows])).toEqual([[0, 2], [1, 1], [2, 3]])
    expect(progress).toEqual(JSON.parse(JSON.stringify(q.recentProgress)))
    expect(events.map((e) => e.type)[0]).toBe('started')
    expect(events.map((e) => e.type).at(-1)).toBe('terminated')
  })

  it('retries a batch the sink failed with the same id, so the log holds each event once', async () => {
    const dir = await tempDir()
    const session = createSession()
    const warnings: string[] = []
    const files = jsonFilesSink(dir) as Sink<ForwardedEvent>
    let failures = 1
    // Writes the batch, then fails as if the process lost the answer: the retry must not duplicate it.
    const flaky: Sink<ForwardedEvent> = {
      description: 'flaky',
      async open(ctx) {
        const inner = await files.open(ctx)
        return {
          async addBatch(batchId, rows) {
            await inner.addBatch(batchId, rows)
            if (failures-- > 0) throw new Error('connection reset')
          },
        }
      },
    }
    const fwd = await forwardProgress(session, flaky, { intervalMs: 5, warn: (m) => warnings.push(m) })
    const q = await runQuery(session, 'doubler', [[1], [2]])
    await expect.poll(() => warnings.length).toBeGreaterThan(0)
    await fwd.close()
    expect(warnings[0]).toMatch(/writing batch \d+ failed, will retry: connection reset/)
    const events = await readJsonFilesSink<ForwardedEvent>(dir)
    expect(events.filter((e) => e.type === 'progress').map((e) => e.progress!.batchId)).toEqual([0, 1])
    expect(events.filter((e) => e.type === 'started')).toHaveLength(1)
    expect(q.isActive).toBe(false)
  })

  it('feeds a second streaming query that averages each query\'s processing rate per minute', async () => {
    const dir = await tempDir()
    const session = createSession()
    const fwd = await forwardProgress(session, jsonFilesSink(dir) as Sink<ForwardedEvent>, { intervalMs: 10 })
    const a = await runQuery(session, 'a', [[1, 2, 3], [4], [5, 6]])
    const b = await runQuery(session, 'b', [[7], [8, 9]])
    await fwd.close()

    const Event = t.intersection([
      t.type({ type: t.string, id: t.string, timestamp: t.string }),
      t.partial({ progress: t.type({ processedRowsPerSecond: t.number }) }),
    ])
    const monitor = createSession()
    const out = memorySink<{ key: string; window: { start: number; end: number }; avg: number }>()
    const m = await monitor
      .readStream(jsonFiles(dir, { codec: Event }))
      .pipe(
        filter((e) => e.type === 'progress'),
        map((e) => ({ id: e.id, ts: Date.parse(e.timestamp), rate: e.progress!.processedRowsPerSecond })),
        withWatermark((r) => r.ts, '1 minute'),
        groupBy((r) => r.id, t.string, { window: { time: (r) => r.ts, size: '1 minute' } }),
        avg((r) => r.rate),
      )
      .writeStream({ outputMode: 'update', sink: out, trigger: trigger.availableNow(), queryName: 'rates' })
      .start()
    await m.awaitTermination()

    const expected = new Map<string, { sum: number; n: number }>()
    for (const q of [a, b]) {
      for (const p of q.recentProgress) {
        const start = Math.floor(Date.parse(p.timestamp) / 60_000) * 60_000
        const k = `${q.id}@${start}`
        const e = expected.get(k) ?? { sum: 0, n: 0 }
        expected.set(k, { sum: e.sum + p.processedRowsPerSecond, n: e.n + 1 })
      }
    }
    const latest = new Map(out.rows().map((r) => [`${r.key}@${r.window.start}`, r]))
    expect([...latest.keys()].sort()).toEqual([...expected.keys()].sort())
    for (const [k, e] of expected) {
      expect(latest.get(k)!.avg).toBeCloseTo(e.sum / e.n, 6)
      expect(latest.get(k)!.window.end - latest.get(k)!.window.start).toBe(60_000)
    }
  })

  it('refuses a sink that cannot append', async () => {
    const session = createSession()
    const bad: Sink<ForwardedEvent> = {
      description: 'complete-only',
      open: async (ctx) => {
        throw new Error(`complete-only sink cannot run in ${ctx.outputMode} mode`)
      },
    }
    await expect(forwardProgress(session, bad)).rejects.toThrow('cannot run in append mode')
  })
})
