/**
 * The query directory and `observeEvents` on a stand-in session whose events and queries the test controls, so each
 * started, terminated and restarted case happens exactly when the test says.
 */
import { Subject } from 'rxjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StreamingQuery } from '../../src/exec/streamingQuery.js'
import { observeEvents, QueryDirectory } from '../../src/monitor/queryDirectory.js'
import type { Session, StreamingQueryEvent } from '../../src/session.js'

/** A session with `streams.active`, `streams.get` and `streams.events$`, and queries that are only an id and a flag. */
function fakeSession() {
  const events = new Subject<StreamingQueryEvent>()
  const queries = new Map<string, { id: string; runId: string; isActive: boolean }>()
  const session = {
    streams: {
      events$: events.asObservable(),
      get active() {
        return [...queries.values()].filter((q) => q.isActive)
      },
      get: (id: string) => queries.get(id),
    },
  } as unknown as Session
  return {
    session,
    /** Registers a running query (a new run replaces the old one under the same id) and announces it. */
    start(id: string, timestamp = '2026-01-01T00:00:00.000Z', announce = true) {
      const q = { id, runId: `${id}-run${Math.random()}`, isActive: true }
      queries.set(id, q)
      if (announce) events.next({ type: 'started', id, runId: q.runId, name: undefined, timestamp })
      return q as unknown as StreamingQuery
    },
    /** Marks the query stopped, takes it out of the session as the session does, and announces it. */
    stop(id: string) {
      const q = queries.get(id)!
      q.isActive = false
      events.next({ type: 'terminated', id, runId: q.runId, exception: undefined })
    },
    emit: (e: StreamingQueryEvent) => events.next(e),
    forget: (id: string) => queries.delete(id),
  }
}

const ids = (d: QueryDirectory) => d.list().map((q) => q.id)

afterEach(() => {
  vi.useRealTimers()
})

describe('QueryDirectory', () => {
  it('lists the queries active when it is made, started now, and later started ones at their start time', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.parse('2026-03-01T12:00:00.000Z'))
    const s = fakeSession()
    const a = s.start('a', '2026-03-01T11:00:00.000Z')
    const directory = new QueryDirectory(s.session, 20, () => {})
    s.start('b', '2026-03-01T12:30:00.000Z')
    expect(ids(directory)).toEqual(['a', 'b'])
    expect(directory.get('a')).toBe(a)
    expect(directory.get('c')).toBeUndefined()
    expect(directory.startedAtMs('a')).toBe(Date.parse('2026-03-01T12:00:00.000Z'))
    expect(directory.startedAtMs('b')).toBe(Date.parse('2026-03-01T12:30:00.000Z'))
    expect(directory.startedAtMs('c')).toBeUndefined()
  })

  it('ignores a started event for a query already gone from the session, without a warning', () => {
    const s = fakeSession()
    const warnings: string[] = []
    const directory = new QueryDirectory(s.session, 20, (m) => warnings.push(m))
    s.emit({ type: 'started', id: 'gone', runId: 'r', name: 'gone', timestamp: '2026-01-01T00:00:00.000Z' })
    expect(directory.list()).toEqual([])
    expect(directory.get('gone')).toBeUndefined()
    expect(directory.startedAtMs('gone')).toBeUndefined()
    expect(warnings).toEqual([])
  })

  it('lists active queries first, then terminated ones, each in start order', () => {
    const s = fakeSession()
    const directory = new QueryDirectory(s.session, 20, () => {})
    for (const id of ['a', 'b', 'c', 'd']) s.start(id)
    s.stop('a')
    s.stop('c')
    expect(ids(directory)).toEqual(['b', 'd', 'a', 'c'])
  })

  it('puts a restarted query, its new run, at the end with its new start time', () => {
    const s = fakeSession()
    const directory = new QueryDirectory(s.session, 20, () => {})
    s.start('a', '2026-01-01T00:00:00.000Z')
    s.start('b', '2026-01-01T00:00:01.000Z')
    s.stop('a')
    const again = s.start('a', '2026-01-01T00:00:02.000Z')
    expect(ids(directory)).toEqual(['b', 'a'])
    expect(directory.get('a')).toBe(again)
    expect(directory.startedAtMs('a')).toBe(Date.parse('2026-01-01T00:00:02.000Z'))
  })

  it('keeps only the `retainTerminated` most recently started terminated queries', () => {
    const s = fakeSession()
    const directory = new QueryDirectory(s.session, 2, () => {})
    for (const id of ['a', 'b', 'c', 'd', 'e']) s.start(id)
    s.stop('a')
    s.stop('b')
    expect(ids(directory)).toEqual(['c', 'd', 'e', 'a', 'b'])
    s.stop('d')
    expect(ids(directory)).toEqual(['c', 'e', 'b', 'd'])
    expect(directory.get('a')).toBeUndefined()
    expect(directory.startedAtMs('a')).toBeUndefined()
    expect(directory.startedAtMs('b')).toBeDefined()
    s.stop('c')
    s.stop('e')
    expect(ids(directory)).toEqual(['d', 'e'])
  })

  it('keeps 20 terminated queries by default, and none with retainTerminated 0', () => {
    const s = fakeSession()
    const keeps20 = new QueryDirectory(s.session)
    const keepsNone = new QueryDirectory(s.session, 0, () => {})
    const all = Array.from({ length: 22 }, (_, i) => `q${i}`)
    for (const id of all) s.start(id)
    for (const id of all) s.stop(id)
    expect(ids(keeps20)).toEqual(all.slice(2))
    expect(ids(keepsNone)).toEqual([])
  })

  it('stops following the session when closed', () => {
    const s = fakeSession()
    const directory = new QueryDirectory(s.session, 0, () => {})
    s.start('a')
    directory.close()
    s.start('b')
    s.stop('a')
    expect(ids(directory)).toEqual(['a'])
    expect(directory.list()[0]!.isActive).toBe(false)
  })
})

describe('observeEvents', () => {
  it('hands every event to the handler, and passes what it throws to warn, naming the event', () => {
    const s = fakeSession()
    const seen: string[] = []
    const warnings: string[] = []
    const sub = observeEvents(
      s.session,
      (e) => {
        seen.push(e.type)
        if (e.type === 'started') throw new Error('handler bug')
        if (e.type === 'idle') throw 'a string'
      },
      (m) => warnings.push(m),
    )
    s.start('a')
    s.emit({ type: 'idle', id: 'a', runId: 'r', timestamp: '2026-01-01T00:00:00.000Z' })
    s.stop('a')
    expect(seen).toEqual(['started', 'idle', 'terminated'])
    expect(warnings).toEqual([
      "structured-rx monitor: handling a 'started' event failed (ignored): handler bug",
      "structured-rx monitor: handling a 'idle' event failed (ignored): a string",
    ])
    sub.unsubscribe()
    s.start('b')
    expect(seen).toHaveLength(3)
  })
})
