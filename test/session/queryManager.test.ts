import { describe, expect, it } from 'vitest'
import {
  createSession,
  InvalidQueryError,
  map,
  memorySink,
  memorySource,
  type Session,
  type StreamingQuery,
  type StreamingQueryListener,
} from '../../src/index.js'
import { rejectionOf } from '../exec/support.js'
import { stoppedAfterEach } from './support.js'

const session = stoppedAfterEach()

async function start(s: Session, name?: string, input = memorySource<number>()): Promise<StreamingQuery> {
  return s.readStream(input.source).pipe(map((x: number) => x)).writeStream({ outputMode: 'append', sink: memorySink(), queryName: name }).start()
}

/** A listener that records `type:batchId` (or just the type) of every event it gets. */
function recorder(): { seen: string[]; listener: StreamingQueryListener } {
  const seen: string[] = []
  return {
    seen,
    listener: {
      onQueryStarted: () => void seen.push('started'),
      onQueryProgress: ({ progress }) => void seen.push(`progress:${progress.batchId}`),
      onQueryTerminated: () => void seen.push('terminated'),
    },
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('StreamingQueryManager', () => {
  it('delivers onQueryStarted before start() resolves', async () => {
    const s = session()
    const { seen, listener } = recorder()
    s.streams.addListener(listener)
    await start(s)
    expect(seen).toEqual(['started'])
  })

  it('delivers started, every progress and terminated to a listener in order', async () => {
    const s = session()
    const { seen, listener } = recorder()
    s.streams.addListener(listener)
    const input = memorySource<number>()
    const q = await start(s, 'ordered', input)
    for (let i = 0; i < 5; i++) {
      input.addData([i])
      await q.processAllAvailable()
    }
    await s.stop()
    expect(seen).toEqual(['started', 'progress:0', 'progress:1', 'progress:2', 'progress:3', 'progress:4', 'terminated'])
  })

  it('publishes started on events$ before any other event of the run', async () => {
    const s = session()
    const types: string[] = []
    s.streams.events$.subscribe((e) => types.push(e.type))
    const q = await start(s)
    await q.processAllAvailable()
    await q.stop()
    expect(types[0]).toBe('started')
    expect(types.at(-1)).toBe('terminated')
  })

  it('refuses to start a query whose name is already active, and accepts it again once that query stopped', async () => {
    const s = session()
    const first = await start(s, 'orders')
    const error = await rejectionOf(start(s, 'orders'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/cannot start query with name 'orders': a query with that name is already active/)
    await first.stop()
    const again = await start(s, 'orders')
    expect(again.isActive).toBe(true)
  })

  it('refuses the second of two queries started at once with the same name', async () => {
    const s = session()
    const results = await Promise.allSettled([start(s, 'twin'), start(s, 'twin')])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    expect(s.streams.active.map((q) => q.name)).toEqual(['twin'])
  })

  it('awaitAnyTermination returns at once after a query terminated, until resetTerminated()', async () => {
    const s = session()
    const q = await start(s)
    expect(await s.streams.awaitAnyTermination(50)).toBe(false)
    await q.stop()
    expect(await s.streams.awaitAnyTermination()).toBe(true)
    expect(await s.streams.awaitAnyTermination(10)).toBe(true)
    s.streams.resetTerminated()
    expect(await s.streams.awaitAnyTermination(50)).toBe(false)
  })

  it('awaitAnyTermination throws the failure of a failed query, also after another query stopped', async () => {
    const s = session()
    const input = memorySource<number>()
    const ok = await start(s)
    const bad = await s
      .readStream(input.source)
      .pipe(map((x: number) => { if (x > 0) throw new Error('positive'); return x }))
      .writeStream({ outputMode: 'append', sink: memorySink() })
      .start()
    await ok.stop()
    input.addData([1])
    await rejectionOf(bad.awaitTermination())
    await expect(s.streams.awaitAnyTermination()).rejects.toThrow('positive')
    await expect(s.streams.awaitAnyTermination(10)).rejects.toThrow('positive')
  })

  it("passes a throwing listener's error to the session's warn, and keeps the query and other listeners going", async () => {
    const warnings: string[] = []
    const s = session({ warn: (m) => warnings.push(m) })
    const { seen, listener } = recorder()
    s.streams.addListener({ onQueryProgress: () => { throw new Error('listener bug') } })
    s.streams.addListener(listener)
    const input = memorySource<number>()
    const q = await start(s, undefined, input)
    input.addData([1])
    await q.processAllAvailable()
    await s.stop()
    expect(q.exception).toBeUndefined()
    expect(seen).toEqual(['started', 'progress:0', 'terminated'])
    expect(warnings).toEqual([expect.stringMatching(/a StreamingQueryListener threw on progress \(ignored\): Error: listener bug/)])
  })

  it('never makes a batch wait for a slow listener; its backlog is capped and the drops counted and reported', async () => {
    const warnings: string[] = []
    const s = session({ listenerQueueCapacity: 3, warn: (m) => warnings.push(m) })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slowSeen: number[] = []
    s.streams.addListener({ onQueryStarted: () => gate, onQueryProgress: ({ progress }) => void slowSeen.push(progress.batchId) })
    const input = memorySource<number>()
    const startedQuery = start(s, undefined, input)
    // start() waits for onQueryStarted, which is blocked: release it and run ten batches while the listener is slow.
    release()
    const q = await startedQuery
    let unstick!: () => void
    const stuck = new Promise<void>((resolve) => (unstick = resolve))
    s.streams.addListener({ onQueryProgress: () => stuck })
    for (let i = 0; i < 10; i++) {
      input.addData([i])
      await q.processAllAvailable()
    }
    expect(q.lastProgress?.batchId).toBe(9)
    // The stuck listener holds one event in hand and three queued: the other six progress events were dropped.
    expect(s.streams.droppedEvents).toBe(6)
    expect(warnings).toEqual([expect.stringMatching(/a StreamingQueryListener is 3 events behind; dropped 1 event\(s\) so far/)])
    expect(slowSeen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    unstick()
    await q.stop()
  })

  it('session.stop() gives up on a listener stuck longer than drainTimeoutMs, with a warning', async () => {
    const warnings: string[] = []
    const s = createSession({ warn: (m) => warnings.push(m) })
    s.streams.addListener({ onQueryTerminated: () => new Promise<void>(() => undefined) })
    await start(s)
    await s.stop({ drainTimeoutMs: 100 })
    expect(warnings).toEqual([expect.stringMatching(/listeners still had 1 event\(s\) to handle after 100 ms/)])
  })

  it('session.stop() stops every query and resolves only after listeners received every event', async () => {
    const s = session()
    const seen: string[] = []
    s.streams.addListener({
      onQueryTerminated: async (e) => {
        await sleep(50)
        seen.push(`terminated ${e.id}`)
      },
    })
    const a = await start(s, 'a')
    const b = await start(s, 'b')
    await s.stop()
    expect(a.isActive || b.isActive).toBe(false)
    expect(s.streams.active).toEqual([])
    expect(seen.sort()).toEqual([`terminated ${a.id}`, `terminated ${b.id}`].sort())
  })
})
