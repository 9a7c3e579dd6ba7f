import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StreamingQueryProgress } from '../../src/index.js'
import { ListenerBus, type StreamingQueryEvent, type StreamingQueryListener } from '../../src/listenerBus.js'

const started: StreamingQueryEvent = { type: 'started', id: 'q', runId: 'r', name: 'n', timestamp: 't0' }
const progress = (batchId: number): StreamingQueryEvent => ({ type: 'progress', progress: { batchId } as unknown as StreamingQueryProgress })
const idle: StreamingQueryEvent = { type: 'idle', id: 'q', runId: 'r', timestamp: 't1' }
const terminated: StreamingQueryEvent = { type: 'terminated', id: 'q', runId: 'r', exception: 'boom' }

/** Resolves after pending promise callbacks ran (no timers involved). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

/** A deferred: a promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

afterEach(() => void vi.useRealTimers())

describe('ListenerBus', () => {
  it('delivers each kind of event to its method, in order, never synchronously', async () => {
    const bus = new ListenerBus(10, () => undefined)
    const seen: unknown[] = []
    bus.add({
      onQueryStarted: (e) => void seen.push(['started', e]),
      onQueryProgress: (e) => void seen.push(['progress', e]),
      onQueryIdle: (e) => void seen.push(['idle', e]),
      onQueryTerminated: (e) => void seen.push(['terminated', e]),
    })
    bus.post(started)
    bus.post(progress(0))
    bus.post(idle)
    bus.post(terminated)
    expect(seen).toEqual([])
    await bus.drain(1000)
    expect(seen).toEqual([
      ['started', started],
      ['progress', { progress: { batchId: 0 } }],
      ['idle', idle],
      ['terminated', terminated],
    ])
  })

  it('adding a listener twice delivers once; a removed listener still gets what was queued, nothing later', async () => {
    const bus = new ListenerBus(10, () => undefined)
    const seen: number[] = []
    const l: StreamingQueryListener = { onQueryProgress: ({ progress: p }) => void seen.push(p.batchId) }
    bus.add(l)
    bus.add(l)
    bus.post(progress(1))
    bus.remove(l)
    bus.post(progress(2))
    await settle()
    expect(seen).toEqual([1])
  })

  it('postAndWait resolves once every listener handled the event, at once for a listener without that method', async () => {
    const bus = new ListenerBus(10, () => undefined)
    const gate = deferred()
    let handled = false
    bus.add({ onQueryProgress: async () => { await gate.promise; handled = true } })
    bus.add({ onQueryStarted: () => undefined })
    let done = false
    const waiting = bus.postAndWait(progress(0)).then(() => (done = true))
    await settle()
    expect(done).toBe(false)
    gate.resolve()
    await waiting
    expect(handled).toBe(true)
    await bus.postAndWait(started) // only the second listener handles it
  })

  it('passes what a listener throws to warn, with its stack, and goes on with the next event', async () => {
    const warnings: string[] = []
    const bus = new ListenerBus(10, (m) => warnings.push(m))
    const seen: number[] = []
    const error = new Error('listener broke')
    bus.add({ onQueryProgress: ({ progress: p }) => { if (p.batchId === 0) throw error; seen.push(p.batchId) } })
    bus.add({ onQueryIdle: async () => { throw 'plain' } })
    bus.post(progress(0))
    bus.post(progress(1))
    bus.post(idle)
    await bus.drain(1000)
    expect(seen).toEqual([1])
    expect(warnings).toEqual([
      `structured-rx: a StreamingQueryListener threw on progress (ignored): ${error.stack}`,
      'structured-rx: a StreamingQueryListener threw on idle (ignored): plain',
    ])
  })

  it('drops events past a full queue, counts them and reports on the first drop, then at most once a minute', async () => {
    vi.useFakeTimers()
    vi.setSystemTime(1_000_000)
    const warnings: string[] = []
    const bus = new ListenerBus(2, (m) => warnings.push(m))
    const gate = deferred()
    const seen: number[] = []
    bus.add({ onQueryProgress: async ({ progress: p }) => { await gate.promise; seen.push(p.batchId) } })
    // Events the listener has no method for take no room.
    bus.post(started)
    bus.post(idle)
    bus.post(progress(0))
    bus.post(progress(1))
    expect(bus.dropped).toBe(0)
    let droppedDone = false
    const dropped = bus.postAndWait(progress(2)).then(() => (droppedDone = true))
    await dropped
    expect(droppedDone).toBe(true)
    expect(bus.dropped).toBe(1)
    const report = (n: number) =>
      `structured-rx: a StreamingQueryListener is 2 events behind; dropped ${n} event(s) so far (make the listener faster, or hand its work to a queue of its own)`
    expect(warnings).toEqual([report(1)])
    // The event being handled takes no room: with 0 handled, 1 waits and 3 fits beside it.
    bus.post(progress(3))
    expect(bus.dropped).toBe(1)
    vi.setSystemTime(1_000_000 + 59_999)
    bus.post(progress(4))
    expect(bus.dropped).toBe(2)
    expect(warnings).toEqual([report(1)])
    vi.setSystemTime(1_000_000 + 60_000)
    bus.post(progress(5))
    expect(bus.dropped).toBe(3)
    expect(warnings).toEqual([report(1), report(3)])
    gate.resolve()
    await bus.drain(1000)
    expect(seen).toEqual([0, 1, 3])
  })

  it('drain gives up after its timeout, naming how many events were left', async () => {
    const warnings: string[] = []
    const bus = new ListenerBus(10, (m) => warnings.push(m))
    const gate = deferred()
    bus.add({ onQueryProgress: () => gate.promise })
    bus.post(progress(0))
    bus.post(progress(1))
    bus.post(progress(2))
    await settle()
    await bus.drain(5)
    expect(warnings).toEqual(['structured-rx: listeners still had 3 event(s) to handle after 5 ms; stopped waiting for them'])
    gate.resolve()
    await bus.drain(1000)
    expect(warnings).toHaveLength(1)
  })

  it('drain resolves at once with no listener or nothing queued', async () => {
    const warnings: string[] = []
    const bus = new ListenerBus(10, (m) => warnings.push(m))
    await bus.drain(0)
    bus.add({ onQueryStarted: () => undefined })
    await bus.drain(0)
    expect(warnings).toEqual([])
  })
})
