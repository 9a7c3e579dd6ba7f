import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EventStreams } from '../../src/monitor/eventStream.js'

/** A stand-in for a ServerResponse that records what is written to it. */
class FakeResponse extends EventEmitter {
  head: { status: number; headers: Record<string, string> } | undefined
  written: string[] = []
  ended = false
  destroyed = false
  writableLength = 0
  writeHead(status: number, headers: Record<string, string>): this {
    this.head = { status, headers }
    return this
  }
  write(chunk: string): boolean {
    this.written.push(chunk)
    return true
  }
  end(): this {
    this.ended = true
    return this
  }
  destroy(): this {
    this.destroyed = true
    return this
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse
  }
}

describe('EventStreams', () => {
  let streams: EventStreams | undefined
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => {
    streams?.close()
    streams = undefined
    vi.useRealTimers()
  })

  it('opens a stream with event-stream headers and a first comment', () => {
    streams = new EventStreams(2)
    const r = new FakeResponse()
    expect(streams.open(r.res)).toBe(true)
    expect(r.head).toEqual({
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      },
    })
    expect(r.written).toEqual([': connected\n\n'])
    expect(streams.size).toBe(1)
  })

  it('refuses a client past the cap, writing nothing to it, and admits one again after a close', () => {
    streams = new EventStreams(1)
    const a = new FakeResponse()
    const b = new FakeResponse()
    expect(streams.open(a.res)).toBe(true)
    expect(streams.open(b.res)).toBe(false)
    expect(b.head).toBeUndefined()
    expect(b.written).toEqual([])
    expect(streams.size).toBe(1)
    a.emit('close')
    expect(streams.size).toBe(0)
    expect(streams.open(b.res)).toBe(true)
    expect(streams.size).toBe(1)
  })

  it('a cap of 0 admits nobody', () => {
    streams = new EventStreams(0)
    expect(streams.open(new FakeResponse().res)).toBe(false)
    expect(streams.size).toBe(0)
  })

  it('queues broadcasts and writes them 100 ms later, all in one write per client', () => {
    streams = new EventStreams(4)
    const a = new FakeResponse()
    const b = new FakeResponse()
    streams.open(a.res)
    streams.open(b.res)
    streams.broadcast('progress', { batchId: 0 })
    vi.advanceTimersByTime(50)
    streams.broadcast('idle', { id: 'q' })
    vi.advanceTimersByTime(49)
    expect(a.written).toEqual([': connected\n\n'])
    vi.advanceTimersByTime(1)
    const frames = 'event: progress\ndata: {"batchId":0}\n\nevent: idle\ndata: {"id":"q"}\n\n'
    expect(a.written).toEqual([': connected\n\n', frames])
    expect(b.written).toEqual([': connected\n\n', frames])
    // The queue is emptied: a later broadcast sends only itself, again after 100 ms.
    streams.broadcast('terminated', 'x')
    vi.advanceTimersByTime(99)
    expect(a.written).toHaveLength(2)
    vi.advanceTimersByTime(1)
    expect(a.written).toEqual([': connected\n\n', frames, 'event: terminated\ndata: "x"\n\n'])
  })

  it('encodes the data when sent, not when queued', () => {
    streams = new EventStreams(1)
    const a = new FakeResponse()
    streams.open(a.res)
    const data = { n: 1 }
    streams.broadcast('alert', data)
    data.n = 2
    vi.advanceTimersByTime(100)
    expect(a.written.at(-1)).toBe('event: alert\ndata: {"n":2}\n\n')
  })

  it('drops broadcasts while nobody listens', () => {
    streams = new EventStreams(1)
    streams.broadcast('progress', 1)
    const a = new FakeResponse()
    streams.open(a.res)
    vi.advanceTimersByTime(1000)
    expect(a.written).toEqual([': connected\n\n'])
    streams.broadcast('progress', 2)
    vi.advanceTimersByTime(100)
    expect(a.written).toEqual([': connected\n\n', 'event: progress\ndata: 2\n\n'])
  })

  it('sends a keep-alive comment every 15 s', () => {
    streams = new EventStreams(1)
    const a = new FakeResponse()
    streams.open(a.res)
    vi.advanceTimersByTime(14_999)
    expect(a.written).toEqual([': connected\n\n'])
    vi.advanceTimersByTime(1)
    expect(a.written).toEqual([': connected\n\n', ': keep-alive\n\n'])
    vi.advanceTimersByTime(15_000)
    expect(a.written).toEqual([': connected\n\n', ': keep-alive\n\n', ': keep-alive\n\n'])
  })

  it('disconnects a client with more than 1 MiB unsent, and keeps writing to the others', () => {
    streams = new EventStreams(3)
    const slow = new FakeResponse()
    const atLimit = new FakeResponse()
    const fast = new FakeResponse()
    streams.open(slow.res)
    streams.open(atLimit.res)
    streams.open(fast.res)
    slow.writableLength = (1 << 20) + 1
    atLimit.writableLength = 1 << 20
    streams.broadcast('progress', 1)
    vi.advanceTimersByTime(100)
    expect(slow.destroyed).toBe(true)
    expect(slow.written).toEqual([': connected\n\n'])
    expect(atLimit.destroyed).toBe(false)
    expect(atLimit.written).toEqual([': connected\n\n', 'event: progress\ndata: 1\n\n'])
    expect(fast.written).toEqual([': connected\n\n', 'event: progress\ndata: 1\n\n'])
    expect(streams.size).toBe(2)
  })

  it('close ends every stream, cancels the queued events and stops the keep-alive', () => {
    streams = new EventStreams(2)
    const a = new FakeResponse()
    const b = new FakeResponse()
    streams.open(a.res)
    streams.open(b.res)
    streams.broadcast('progress', 1)
    streams.close()
    expect(a.ended).toBe(true)
    expect(b.ended).toBe(true)
    expect(streams.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(a.written).toEqual([': connected\n\n'])
  })
})
