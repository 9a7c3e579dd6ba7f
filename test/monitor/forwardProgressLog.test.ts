import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createSession,
  type ForwardedEvent,
  forwardProgress,
  type Session,
  type Sink,
  type StreamingQueryProgress,
} from '../../src/index.js'
import type { SinkContext } from '../../src/sinks/sink.js'
import { nodeFs } from '../../src/durable/fs.js'

const T = Date.UTC(2026, 0, 1)

/** A sink that records each batch it took, fails while `failWith` is set, and records its context and stop. */
function recordingSink() {
  const state = {
    batches: [] as { batchId: number; rows: ForwardedEvent[] }[],
    attempts: [] as number[],
    failWith: undefined as string | undefined,
    contexts: [] as SinkContext[],
    stopped: 0,
  }
  const sink: Sink<ForwardedEvent> = {
    description: 'recording',
    async open(ctx) {
      state.contexts.push(ctx)
      return {
        async addBatch(batchId, rows) {
          state.attempts.push(batchId)
          if (state.failWith !== undefined) throw new Error(state.failWith)
          state.batches.push({ batchId, rows: rows.slice() })
        },
        async stop() {
          state.stopped++
        },
      }
    },
  }
  return { sink, state }
}

const started = (s: Session, id: string, name?: string) =>
  s.streams.emit({ type: 'started', id, runId: `${id}-run`, name, timestamp: `t-${id}` })

describe('forwardProgress (its event log)', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(T)
  })
  afterEach(() => void vi.useRealTimers())

  it('opens the sink in append mode with unique batch ids, under its id (default forwardProgress)', async () => {
    const session = createSession()
    const a = recordingSink()
    await (await forwardProgress(session, a.sink)).close()
    expect(a.state.contexts).toEqual([{ queryId: 'forwardProgress', queryName: 'forwardProgress', outputMode: 'append', fs: nodeFs, uniqueBatchIds: true }])
    const b = recordingSink()
    await (await forwardProgress(session, b.sink, { id: 'fwd-1' })).close()
    expect(b.state.contexts[0]).toMatchObject({ queryId: 'fwd-1', queryName: 'fwd-1' })
  })

  it('writes each kind of event as a flat record', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const fwd = await forwardProgress(session, sink)
    const progress = { id: 'q', runId: 'r', name: 'words', timestamp: 'trigger-start', batchId: 4 } as unknown as StreamingQueryProgress
    started(session, 'q', 'words')
    started(session, 'p')
    session.streams.emit({ type: 'progress', progress })
    session.streams.emit({ type: 'idle', id: 'q', runId: 'r', timestamp: 'idle-at' })
    session.streams.emit({ type: 'terminated', id: 'q', runId: 'r', exception: 'boom' })
    session.streams.emit({ type: 'terminated', id: 'p', runId: 'p-run', exception: undefined })
    await fwd.flush()
    const now = new Date(T).toISOString()
    expect(state.batches).toEqual([
      {
        batchId: T,
        rows: [
          { type: 'started', id: 'q', runId: 'q-run', name: 'words', timestamp: 't-q' },
          { type: 'started', id: 'p', runId: 'p-run', name: null, timestamp: 't-p' },
          { type: 'progress', id: 'q', runId: 'r', name: 'words', timestamp: 'trigger-start', progress },
          { type: 'idle', id: 'q', runId: 'r', name: null, timestamp: 'idle-at' },
          { type: 'terminated', id: 'q', runId: 'r', name: null, timestamp: now, exception: 'boom' },
          { type: 'terminated', id: 'p', runId: 'p-run', name: null, timestamp: now },
        ],
      },
    ])
    expect('exception' in state.batches[0]!.rows[5]!).toBe(false)
    await fwd.close()
  })

  it('writes what it buffered every intervalMs, and nothing when there is nothing', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const fwd = await forwardProgress(session, sink, { intervalMs: 500 })
    await vi.advanceTimersByTimeAsync(500)
    expect(state.attempts).toEqual([])
    started(session, 'a')
    await vi.advanceTimersByTimeAsync(499)
    expect(state.batches).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(state.batches.map((b) => [b.batchId, b.rows.map((r) => r.id)])).toEqual([[T + 1000, ['a']]])
    await fwd.close()
    expect(state.attempts).toHaveLength(1)
  })

  it('gives batches strictly increasing ids, the time they were formed', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const fwd = await forwardProgress(session, sink)
    started(session, 'a')
    await fwd.flush()
    started(session, 'b')
    await fwd.flush()
    vi.setSystemTime(T + 5000)
    started(session, 'c')
    await fwd.flush()
    expect(state.batches.map((b) => b.batchId)).toEqual([T, T + 1, T + 5000])
    await fwd.close()
  })

  it('a periodic flush that fails warns, keeps the batch and retries it unchanged no sooner than a second later', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const warnings: string[] = []
    const fwd = await forwardProgress(session, sink, { intervalMs: 100, warn: (m) => warnings.push(m) })
    started(session, 'a')
    state.failWith = 'connection reset'
    await vi.advanceTimersByTimeAsync(100)
    const id = T + 100
    expect(state.attempts).toEqual([id])
    expect(warnings).toEqual([`structured-rx forwardProgress: writing batch ${id} failed, will retry: connection reset`])
    state.failWith = undefined
    started(session, 'b')
    await vi.advanceTimersByTimeAsync(900)
    expect(state.attempts).toEqual([id]) // still within the second's pause
    await vi.advanceTimersByTimeAsync(100)
    expect(state.batches).toEqual([
      { batchId: id, rows: [expect.objectContaining({ id: 'a' })] },
      { batchId: T + 1100, rows: [expect.objectContaining({ id: 'b' })] },
    ])
    await fwd.close()
  })

  it('a forced flush rejects with the sink error, keeps the events, and writes the same batch later', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const warnings: string[] = []
    const fwd = await forwardProgress(session, sink, { warn: (m) => warnings.push(m) })
    started(session, 'a')
    state.failWith = 'disk full'
    await expect(fwd.flush()).rejects.toThrow('disk full')
    expect(warnings).toEqual([])
    // A forced flush does not wait out the pause of a failed periodic one either.
    state.failWith = undefined
    started(session, 'b')
    await fwd.flush()
    expect(state.attempts).toEqual([T, T, T + 1])
    expect(state.batches.map((b) => [b.batchId, b.rows.map((r) => r.id)])).toEqual([[T, ['a']], [T + 1, ['b']]])
    await fwd.close()
  })

  it('keeps at most maxBuffered events while the sink is behind, dropping the oldest with a warning', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const warnings: string[] = []
    const fwd = await forwardProgress(session, sink, { maxBuffered: 3, warn: (m) => warnings.push(m) })
    for (const id of ['a', 'b', 'c']) started(session, id)
    expect(warnings).toEqual([])
    started(session, 'd')
    started(session, 'e')
    expect(warnings).toEqual([
      'structured-rx forwardProgress: the sink is behind; dropped the 1 oldest event(s)',
      'structured-rx forwardProgress: the sink is behind; dropped the 1 oldest event(s)',
    ])
    await fwd.flush()
    expect(state.batches.map((b) => b.rows.map((r) => r.id))).toEqual([['c', 'd', 'e']])
    await fwd.close()
  })

  it('close stops listening, writes what is left and stops the sink, also when that write fails', async () => {
    const session = createSession()
    const ok = recordingSink()
    const fwd = await forwardProgress(session, ok.sink)
    started(session, 'a')
    await fwd.close()
    started(session, 'late')
    await vi.advanceTimersByTimeAsync(5000)
    expect(ok.state.batches.map((b) => b.rows.map((r) => r.id))).toEqual([['a']])
    expect(ok.state.stopped).toBe(1)

    const failing = recordingSink()
    const fwd2 = await forwardProgress(session, failing.sink)
    started(session, 'b')
    failing.state.failWith = 'gone'
    await expect(fwd2.close()).rejects.toThrow('gone')
    expect(failing.state.stopped).toBe(1)
  })

  it('one flush at a time: flushes during a write wait for it, and no batch is written twice', async () => {
    const session = createSession()
    const attempts: string[][] = []
    const gates: ((ok: boolean) => void)[] = []
    const sink: Sink<ForwardedEvent> = {
      description: 'slow',
      open: async () => ({
        async addBatch(_id, rows) {
          attempts.push(rows.map((r) => r.id))
          const ok = await new Promise<boolean>((resolve) => gates.push(resolve))
          if (!ok) throw new Error('timeout')
        },
      }),
    }
    const fwd = await forwardProgress(session, sink)
    started(session, 'a')
    const first = fwd.flush().then(() => 'ok', (e: Error) => e.message)
    started(session, 'b')
    const second = fwd.flush()
    const third = fwd.flush()
    await vi.advanceTimersByTimeAsync(0)
    expect(attempts).toEqual([['a']])
    gates.shift()!(false) // the first write fails: its batch stays pending, the waiting flushes take over one at a time
    expect(await first).toBe('timeout')
    await vi.advanceTimersByTimeAsync(0)
    expect(attempts).toEqual([['a'], ['a']])
    gates.shift()!(true)
    await vi.advanceTimersByTimeAsync(0)
    expect(attempts).toEqual([['a'], ['a'], ['b']])
    gates.shift()!(true)
    await Promise.all([second, third])
    expect(attempts).toEqual([['a'], ['a'], ['b']])
    expect(gates).toEqual([])
    await fwd.close()
  })

  it('a forced flush that succeeds after a failed periodic one lifts the pause for the next periodic flush', async () => {
    const session = createSession()
    const { sink, state } = recordingSink()
    const fwd = await forwardProgress(session, sink, { intervalMs: 100, warn: () => undefined })
    started(session, 'a')
    state.failWith = 'down'
    await vi.advanceTimersByTimeAsync(100)
    state.failWith = undefined
    await fwd.flush()
    started(session, 'b')
    await vi.advanceTimersByTimeAsync(100)
    expect(state.batches.map((b) => [b.batchId, b.rows.map((r) => r.id)])).toEqual([[T + 100, ['a']], [T + 200, ['b']]])
    await fwd.close()
  })
})
