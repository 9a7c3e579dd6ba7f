import { describe, expect, it } from 'vitest'
import { createSession, memorySink, memorySource, type StreamingQuery } from '../../src/index.js'
import { stoppedAfterEach } from './support.js'

const session = stoppedAfterEach()

/** A stand-in for a query, as the manager sees it (id, activity, failure). */
function fakeQuery(id: string, fields: { isActive?: boolean; exception?: Error } = {}): StreamingQuery {
  return { id, isActive: fields.isActive ?? true, exception: fields.exception, stop: async () => undefined } as unknown as StreamingQuery
}

describe('createSession', () => {
  it('fills in the defaults', () => {
    const s = session()
    expect(s.options).toEqual({
      shufflePartitions: 8,
      numRecentProgressUpdates: 100,
      snapshotInterval: 10,
      minBatchesToRetain: 100,
      stateDeltas: 'patches',
      listenerQueueCapacity: 10_000,
      noDataProgressEventInterval: 10_000,
      fs: undefined,
      warn: undefined,
    })
  })

  it('keeps the options given, a duration string parsed', () => {
    const warn = (): void => undefined
    const s = session({
      shufflePartitions: 3,
      numRecentProgressUpdates: 5,
      snapshotInterval: 2,
      minBatchesToRetain: 7,
      stateDeltas: 'whole',
      listenerQueueCapacity: 1,
      noDataProgressEventInterval: '30 seconds',
      warn,
    })
    expect(s.options).toMatchObject({
      shufflePartitions: 3,
      numRecentProgressUpdates: 5,
      snapshotInterval: 2,
      minBatchesToRetain: 7,
      stateDeltas: 'whole',
      listenerQueueCapacity: 1,
      noDataProgressEventInterval: 30_000,
      warn,
    })
  })

  it('refuses a count that is not a positive integer, naming the option', () => {
    expect(() => createSession({ shufflePartitions: 0 })).toThrow(new RangeError('createSession: shufflePartitions must be a positive integer, got 0'))
    expect(() => createSession({ numRecentProgressUpdates: 1.5 })).toThrow(new RangeError('createSession: numRecentProgressUpdates must be a positive integer, got 1.5'))
    expect(() => createSession({ snapshotInterval: -1 })).toThrow(new RangeError('createSession: snapshotInterval must be a positive integer, got -1'))
    expect(() => createSession({ minBatchesToRetain: 0 })).toThrow(new RangeError('createSession: minBatchesToRetain must be a positive integer, got 0'))
    expect(() => createSession({ listenerQueueCapacity: 0 })).toThrow(new RangeError('createSession: listenerQueueCapacity must be a positive integer, got 0'))
  })

  it("refuses a stateDeltas other than 'patches' or 'whole'", () => {
    expect(() => createSession({ stateDeltas: 'diff' as 'whole' })).toThrow(new RangeError(`stateDeltas must be 'patches' or 'whole', got "diff"`))
    expect(session({ stateDeltas: 'patches' }).options.stateDeltas).toBe('patches')
  })
})

describe('Session.table', () => {
  it('is the rows of the memory sink of the named query', async () => {
    const s = session()
    const input = memorySource<number>()
    const q = await s.readStream(input.source).writeStream({ outputMode: 'append', sink: memorySink<number>(), queryName: 'nums' }).start()
    input.addData([1, 2])
    await q.processAllAvailable()
    expect(s.table<number>('nums')).toEqual([1, 2])
  })

  it('names the missing table and says how to make one', () => {
    expect(() => session().table('nope')).toThrow(new Error("no table 'nope': start a query with queryName 'nope' and a memorySink() first"))
  })
})

describe('StreamingQueryManager bookkeeping', () => {
  it('get() finds a running query by id and forgets it once it terminated', async () => {
    const s = session()
    const q = await s.readStream(memorySource<number>().source).writeStream({ outputMode: 'append', sink: memorySink<number>() }).start()
    expect(s.streams.get(q.id)).toBe(q)
    expect(s.streams.active).toEqual([q])
    await q.stop()
    expect(s.streams.get(q.id)).toBeUndefined()
    expect(s.streams.active).toEqual([])
  })

  it('the termination of an earlier run does not forget a later run registered under the same id', () => {
    const s = session()
    const first = fakeQuery('q1')
    const second = fakeQuery('q1')
    s.streams.register(first)
    s.streams.register(second)
    s.streams.terminated(first)
    expect(s.streams.get('q1')).toBe(second)
    s.streams.terminated(second)
    expect(s.streams.get('q1')).toBeUndefined()
  })

  it('active lists only the registered queries that are active', () => {
    const s = session()
    const running = fakeQuery('a')
    s.streams.register(running)
    s.streams.register(fakeQuery('b', { isActive: false }))
    expect(s.streams.active).toEqual([running])
  })

  it('awaitAnyTermination resolves false after its timeout when nothing terminated', async () => {
    await expect(session().streams.awaitAnyTermination(1)).resolves.toBe(false)
  })

  it('awaitAnyTermination wakes its waiters on a termination; a failure is kept over a later clean stop', async () => {
    const s = session()
    const waiting = s.streams.awaitAnyTermination()
    const failure = new Error('boom')
    s.streams.terminated(fakeQuery('a', { isActive: false, exception: failure }))
    await expect(waiting).rejects.toBe(failure)
    s.streams.terminated(fakeQuery('b', { isActive: false }))
    await expect(s.streams.awaitAnyTermination()).rejects.toBe(failure)
    s.streams.resetTerminated()
    s.streams.terminated(fakeQuery('c', { isActive: false }))
    await expect(s.streams.awaitAnyTermination()).resolves.toBe(true)
    // A later failure replaces a clean stop.
    const later = new Error('later')
    s.streams.terminated(fakeQuery('d', { isActive: false, exception: later }))
    await expect(s.streams.awaitAnyTermination()).rejects.toBe(later)
  })
})
