/**
 * fromObservable makes a live Observable durable: each event is appended to a write-ahead log before the
 * query can read it, so events survive a restart and are read exactly once.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Subject } from 'rxjs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  BadRecordError,
  type CheckpointFs,
  createSession,
  foreachBatch,
  fromObservable,
  nodeFs,
  type StreamingQuery,
  StreamingQueryError,
  trigger,
  type Trigger,
} from '../../src/index.js'

const Event = t.type({ id: t.number, name: t.string })
type Event = t.TypeOf<typeof Event>

const event = (id: number): Event => ({ id, name: `e${id}` })

/** Every line of every segment of the log, in order. */
async function logLines(log: string): Promise<string[]> {
  const names = (await readdir(log).catch(() => [] as string[])).filter((n) => n.endsWith('.jsonl')).sort()
  const lines: string[] = []
  for (const name of names) lines.push(...(await readFile(join(log, name), 'utf8')).split('\n').filter((l) => l.length > 0))
  return lines
}

/**
 * Runs `processAllAvailable` until the sink holds `n` rows: an event is available to the query only once its append
 * is durable, a moment after `next`.
 */
async function untilProcessed(q: StreamingQuery, processed: () => number, n: number): Promise<void> {
  const deadline = Date.now() + 5000
  for (;;) {
    await q.processAllAvailable()
    if (processed() >= n) return
    if (Date.now() > deadline) throw new Error(`only ${processed()} of ${n} events were processed`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('fromObservable', () => {
  let root: string
  let log: string
  let checkpoint: string
  const queries: StreamingQuery[] = []
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-observable-'))
    log = join(root, 'log')
    checkpoint = join(root, 'checkpoint')
  })
  afterEach(async () => {
    for (const q of queries.splice(0)) await q.stop().catch(() => undefined)
    await rm(root, { recursive: true, force: true })
  })

  /** An external table of delivered batches, idempotent by batchId; `onBatch` runs before a batch is stored. */
  function batchTable(onBatch: (rows: Event[]) => Promise<void> = async () => {}) {
    const byBatch = new Map<number, Event[]>()
    return {
      sink: foreachBatch<Event>(async (rows, batchId) => {
        await onBatch(rows)
        byBatch.set(batchId, rows.slice())
      }),
      ids: () => [...byBatch.entries()].sort(([a], [b]) => a - b).flatMap(([, rows]) => rows.map((r) => r.id)),
    }
  }

  async function start(events: Subject<Event>, sink: ReturnType<typeof batchTable>['sink'], when?: Trigger): Promise<StreamingQuery> {
    const q = await createSession()
      .readStream(fromObservable(events, { codec: Event, log }))
      .writeStream({ outputMode: 'append', sink, checkpointLocation: checkpoint, trigger: when })
      .start()
    queries.push(q)
    return q
  }

  it('appends every event to the log before the query reads it', async () => {
    const seenInLog: boolean[] = []
    const table = batchTable(async (rows) => {
      const lines = await logLines(log)
      for (const row of rows) seenInLog.push(lines.includes(JSON.stringify(row)))
    })
    const events = new Subject<Event>()
    const q = await start(events, table.sink)
    for (let i = 0; i < 20; i++) {
      events.next(event(i))
      if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await untilProcessed(q, () => table.ids().length, 20)
    expect(table.ids()).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(seenInLog).toHaveLength(20)
    expect(seenInLog.every(Boolean)).toBe(true)
  })

  it('keeps logged events that were not processed yet, and a restarted query reads them exactly once', async () => {
    const table = batchTable()
    // With a trigger interval of an hour, a query runs its first trigger at start and then only stops: events emitted
    // after start are logged (stop() waits for the log) but not processed by that run.
    const hourly = trigger.processingTime('1 hour')
    const first = new Subject<Event>()
    const q1 = await start(first, table.sink, hourly)
    for (let i = 0; i < 5; i++) first.next(event(i))
    await q1.stop()
    expect(await logLines(log)).toHaveLength(5)
    expect(table.ids()).toEqual([])

    const second = new Subject<Event>()
    const q2 = await start(second, table.sink, hourly)
    for (let i = 5; i < 10; i++) second.next(event(i))
    await q2.stop()
    expect(table.ids()).toEqual([0, 1, 2, 3, 4])
    expect(await logLines(log)).toHaveLength(10)

    const third = new Subject<Event>()
    const q3 = await start(third, table.sink)
    await q3.processAllAvailable()
    expect(table.ids()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    third.next(event(10))
    await untilProcessed(q3, () => table.ids().length, 11)
    expect(table.ids()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  it('drops a torn last line of the log on recovery and appends new events after the complete ones', async () => {
    await mkdir(log, { recursive: true })
    const segment = join(log, `${'0'.repeat(20)}.jsonl`)
    await writeFile(segment, [0, 1, 2].map((i) => JSON.stringify(event(i))).join('\n') + '\n{"id":3,"na')
    const table = batchTable()
    const events = new Subject<Event>()
    const q = await start(events, table.sink)
    await q.processAllAvailable()
    expect(table.ids()).toEqual([0, 1, 2])
    expect(await readFile(segment, 'utf8')).toBe([0, 1, 2].map((i) => JSON.stringify(event(i)) + '\n').join(''))
    events.next(event(30))
    await untilProcessed(q, () => table.ids().length, 4)
    expect(table.ids()).toEqual([0, 1, 2, 30])
    expect(await readFile(segment, 'utf8')).toBe([0, 1, 2, 30].map((i) => JSON.stringify(event(i)) + '\n').join(''))
  })

  it('fails the query with BadRecordError for an event that fails the codec, without logging it', async () => {
    const table = batchTable()
    const events = new Subject<unknown>()
    const q = await createSession()
      .readStream(fromObservable(events as Subject<Event>, { codec: Event, log }))
      .writeStream({ outputMode: 'append', sink: table.sink, checkpointLocation: checkpoint })
      .start()
    queries.push(q)
    events.next(event(0))
    await untilProcessed(q, () => table.ids().length, 1)
    events.next({ id: 'one', name: 'e1' })
    const error = await q.awaitTermination().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamingQueryError)
    const cause = (error as StreamingQueryError).cause
    expect(cause).toBeInstanceOf(BadRecordError)
    expect(cause).toMatchObject({ codecPath: '.id' })
    expect(table.ids()).toEqual([0])
    expect(await logLines(log)).toEqual([JSON.stringify(event(0))])
  })

  /** Starts a query over a log written by hand and returns the cause of the error that terminates it. */
  async function failureOver(segments: Record<number, string>): Promise<unknown> {
    await mkdir(log, { recursive: true })
    for (const [first, text] of Object.entries(segments)) await writeFile(join(log, `${first.padStart(20, '0')}.jsonl`), text)
    const q = await start(new Subject<Event>(), batchTable().sink)
    const error = await q.awaitTermination().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamingQueryError)
    return (error as StreamingQueryError).cause
  }

  it('names the segment file and the line within it for a logged event that fails the codec', async () => {
    const full = Array.from({ length: 10_000 }, (_, i) => JSON.stringify(event(i)) + '\n').join('')
    const cause = await failureOver({ 0: full, 10_000: `${JSON.stringify(event(10_000))}\n{"id":"x","name":"bad"}\n` })
    expect(cause).toBeInstanceOf(BadRecordError)
    expect(cause).toMatchObject({ file: join(log, `${'10000'.padStart(20, '0')}.jsonl`), line: 2, codecPath: '.id' })
  })

  it('fails with BadRecordError naming the file and line for a malformed line inside the log', async () => {
    const cause = await failureOver({ 0: `${JSON.stringify(event(0))}\n{"id":1,"na\n${JSON.stringify(event(2))}\n` })
    expect(cause).toBeInstanceOf(BadRecordError)
    expect(cause).toMatchObject({ file: join(log, `${'0'.padStart(20, '0')}.jsonl`), line: 2 })
  })

  it('fails start() when the last log segment cannot be read, rather than counting it as empty', async () => {
    await mkdir(log, { recursive: true })
    await writeFile(join(log, `${'0'.padStart(20, '0')}.jsonl`), [0, 1, 2].map((i) => JSON.stringify(event(i)) + '\n').join(''))
    const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })
    // Reading a segment fails; counting it as empty would give new events the offsets of the logged ones.
    const brokenReads: CheckpointFs = {
      ...nodeFs,
      readFile: async (path) => (path.endsWith('.jsonl') ? Promise.reject(eio) : nodeFs.readFile(path)),
    }
    const starting = createSession({ fs: brokenReads })
      .readStream(fromObservable(new Subject<Event>(), { codec: Event, log }))
      .writeStream({ outputMode: 'append', sink: batchTable().sink, checkpointLocation: checkpoint })
      .start()
    const error = await starting.then(
      (q) => {
        queries.push(q)
        return undefined
      },
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'EIO' })
  })
})
