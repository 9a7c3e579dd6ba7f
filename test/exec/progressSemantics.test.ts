/** Progress as Spark's ProgressReporter makes it: idle reports, rates, posting after the commit, offsets and statuses. */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  foreachBatch,
  groupBy,
  isIdleProgress,
  jsonFiles,
  map,
  memorySink,
  memorySource,
  type Session,
  type StreamingQueryProgress,
  trigger,
  withWatermark,
} from '../../src/index.js'
import { eventually } from './support.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
function track(s: Session): Session {
  cleanup.push(() => s.stop())
  return s
}
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-progress-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('progress of an idle query', () => {
  it('records a progress with no rows and posts onQueryIdle at most every noDataProgressEventInterval', async () => {
    const s = track(createSession({ noDataProgressEventInterval: 150 }))
    const idles: string[] = []
    s.streams.addListener({ onQueryIdle: (e) => void idles.push(e.timestamp) })
    const input = memorySource<number>()
    const q = await s.readStream(input.source).pipe(map((x: number) => x)).writeStream({ outputMode: 'append', sink: memorySink() }).start()
    input.addData([1, 2])
    await q.processAllAvailable()
    const startedIdle = Date.now()
    await eventually(() => q.recentProgress.filter(isIdleProgress).length >= 3, 10_000)
    const elapsed = Date.now() - startedIdle
    const idle = q.recentProgress.filter(isIdleProgress)
    // Never more often than the interval: n reports need at least n intervals (the first counts from the batch).
    expect(idle.length * 150).toBeLessThanOrEqual(elapsed + 150)
    const gaps = idle.slice(1).map((p, i) => Date.parse(p.timestamp) - Date.parse(idle[i]!.timestamp))
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(140)
    expect(idle[0]).toMatchObject({ batchId: 0, numInputRows: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0, sink: { numOutputRows: 0 } })
    expect(Object.keys(idle[0]!.durationMs).sort()).toEqual(['getOffset', 'latestOffset', 'triggerExecution'])
    expect(idle[0]!.sources[0]).toMatchObject({ startOffset: 2, endOffset: 2, numInputRows: 0 })
    await eventually(() => idles.length >= 3)
    expect(q.status).toMatchObject({ message: 'Waiting for data to arrive', isDataAvailable: false })
  })

  it('tells a hung query from an idle one: status and the age of the last progress', async () => {
    const s = track(createSession({ noDataProgressEventInterval: 50 }))
    const idleInput = memorySource<number>()
    const hungInput = memorySource<number>()
    let release!: () => void
    const hung = new Promise<void>((resolve) => (release = resolve))
    cleanup.push(async () => release())
    const idleQ = await s.readStream(idleInput.source).writeStream({ outputMode: 'append', sink: memorySink(), queryName: 'idle' }).start()
    const hungQ = await s.readStream(hungInput.source).writeStream({ outputMode: 'append', sink: foreachBatch(() => hung), queryName: 'hung' }).start()
    idleInput.addData([1])
    await idleQ.processAllAvailable()
    hungInput.addData([1])
    await sleep(400)
    const age = (p: StreamingQueryProgress | undefined) => (p === undefined ? Infinity : Date.now() - Date.parse(p.timestamp))
    expect(idleQ.status).toMatchObject({ message: 'Waiting for data to arrive', isTriggerActive: false })
    expect(age(idleQ.lastProgress)).toBeLessThan(300)
    expect(hungQ.status).toMatchObject({ message: 'Processing new data', isDataAvailable: true, isTriggerActive: true })
    expect(age(hungQ.lastProgress)).toBeGreaterThanOrEqual(400)
  })
})

describe('rates as Spark computes them', () => {
  it('input rate over the time since the previous batch started, processing rate over the trigger duration', async () => {
    const s = track(createSession())
    const input = memorySource<number>()
    const q = await s.readStream(input.source).pipe(map((x: number) => x + 1)).writeStream({ outputMode: 'append', sink: memorySink() }).start()
    for (const n of [5, 50, 500]) {
      input.addData(Array.from({ length: n }, (_, i) => i))
      await q.processAllAvailable()
      await sleep(20)
    }
    const [p0, p1, p2] = q.recentProgress.filter((p) => !isIdleProgress(p))
    expect(p0!.inputRowsPerSecond).toBe(0)
    for (const [prev, p] of [[p0!, p1!], [p1!, p2!]] as const) {
      const seconds = (Date.parse(p.timestamp) - Date.parse(prev.timestamp)) / 1000
      expect(p.inputRowsPerSecond).toBeCloseTo(p.numInputRows / seconds, 6)
      expect(p.sources[0]!.inputRowsPerSecond).toBe(p.inputRowsPerSecond)
    }
    for (const p of [p0!, p1!, p2!]) {
      // triggerExecution is rounded to a ms; the rate uses the exact duration, at least 1 ms.
      const d = p.durationMs.triggerExecution
      expect(p.processedRowsPerSecond).toBeLessThanOrEqual((p.numInputRows * 1000) / Math.max(1, d - 0.5))
      expect(p.processedRowsPerSecond).toBeGreaterThanOrEqual((p.numInputRows * 1000) / Math.max(1, d + 0.5))
    }
  })

  it('gives a batch re-run after a crash a fresh timestamp and no input rate over the downtime', async () => {
    const dir = await tempDir()
    const input = memorySource<number>()
    const start = async () =>
      track(createSession())
        .readStream(input.source)
        .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: join(dir, 'ckpt') })
        .start()
    const first = await start()
    input.addData([1, 2, 3])
    await first.processAllAvailable()
    const ranAt = Date.parse(first.lastProgress!.timestamp)
    await first.stop()
    // As if the process died after the offsets were logged but before the commit: batch 0 must run again.
    await unlink(join(dir, 'ckpt', 'commits', '0'))
    await sleep(300)
    const restartedAt = Date.now()
    const second = await start()
    await second.processAllAvailable()
    const rerun = second.recentProgress.find((p) => p.batchId === 0 && !isIdleProgress(p))!
    expect(Date.parse(rerun.timestamp)).toBeGreaterThanOrEqual(restartedAt)
    expect(Date.parse(rerun.timestamp) - ranAt).toBeGreaterThanOrEqual(300)
    expect(rerun.inputRowsPerSecond).toBe(0)
    expect(rerun.numInputRows).toBe(3)
  })
})

describe('posting progress', () => {
  it('posts a batch only after its commit is durable in the checkpoint', async () => {
    const dir = await tempDir()
    const s = track(createSession())
    const committedWhenPosted: boolean[] = []
    const input = memorySource<number>()
    const q = await s.readStream(input.source).writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: dir }).start()
    q.progress$.subscribe((p) => committedWhenPosted.push(existsSync(join(dir, 'commits', String(p.batchId)))))
    for (let i = 0; i < 5; i++) {
      input.addData([i])
      await q.processAllAvailable()
    }
    expect(committedWhenPosted).toEqual([true, true, true, true, true])
  })

  it('reports every durationMs key with Spark meaning, and a no-data batch as cleaning up state', async () => {
    const s = track(createSession({ shufflePartitions: 3 }))
    const input = memorySource<{ user: string; ts: number }>()
    const statuses: string[] = []
    const q = await s
      .readStream(input.source)
      .pipe(withWatermark((c) => c.ts, '1 second'), groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: '1 second' } }), count())
      .writeStream({ outputMode: 'append', sink: foreachBatch(() => void statuses.push(q.status.message)) })
      .start()
    input.addData([{ user: 'a', ts: 1_000 }])
    await q.processAllAvailable()
    input.addData([{ user: 'a', ts: 10_000 }])
    await q.processAllAvailable()
    // The watermark moved past the first window: a no-data batch emits it.
    await eventually(() => q.recentProgress.some((p) => p.numInputRows === 0 && !isIdleProgress(p)))
    expect(statuses).toContain('No new data but cleaning up state')
    const p = q.recentProgress[0]!
    expect(Object.keys(p.durationMs).sort()).toEqual(['addBatch', 'commitOffsets', 'getBatch', 'getOffset', 'latestOffset', 'queryPlanning', 'triggerExecution', 'walCommit'])
    for (const key of ['addBatch', 'commitOffsets', 'getBatch', 'latestOffset', 'queryPlanning', 'walCommit'] as const) {
      expect(p.durationMs[key]).toBeLessThanOrEqual(p.durationMs.triggerExecution)
    }
    expect(p.stateOperators[0]).toMatchObject({ numStateStoreInstances: 3, numShufflePartitions: 3 })
    expect(p.stateOperators[0]!.commitTimeMs).toBeGreaterThanOrEqual(0)
  })
})

describe('offsets in progress', () => {
  it('shows file source offsets as { logOffset: n }, with a null start for the first batch', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'in'))
    const s = track(createSession())
    const q = await s
      .readStream(jsonFiles(join(dir, 'in'), { codec: t.type({ n: t.number }), maxFilesPerTrigger: 1 }))
      .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: join(dir, 'ckpt'), trigger: trigger.availableNow() })
      .start()
      .then(async (first) => {
        await first.awaitTermination()
        return first
      })
    expect(q.recentProgress).toEqual([])
    await writeFile(join(dir, 'in', '1.jsonl'), '{"n":1}\n')
    await writeFile(join(dir, 'in', '2.jsonl'), '{"n":2}\n')
    const again = await s
      .readStream(jsonFiles(join(dir, 'in'), { codec: t.type({ n: t.number }), maxFilesPerTrigger: 1 }))
      .writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: join(dir, 'ckpt'), trigger: trigger.availableNow() })
      .start()
    await again.awaitTermination()
    expect(again.recentProgress.map((p) => [p.sources[0]!.startOffset, p.sources[0]!.endOffset])).toEqual([
      [null, { logOffset: 0 }],
      [{ logOffset: 0 }, { logOffset: 1 }],
    ])
    expect(JSON.parse(again.recentProgress[1]!.json()).sources[0].endOffset).toEqual({ logOffset: 1 })
  })
})
