/**
 * The alert rules on their own: each watcher is driven with explicit progress, idle, tick and termination calls and a
 * fake clock, so each boundary is checked exactly (the alerting tests run them on real queries).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamingQueryProgress, StreamingQueryStatus } from '../../src/exec/progress.js'
import type { StreamingQuery } from '../../src/exec/streamingQuery.js'
import type { Trigger } from '../../src/exec/trigger.js'
import { fallingBehind, queryFailed, type RuleWatcher, slowBatch, stalled, stateGrowth } from '../../src/index.js'

const clear = { firing: false }

/** A batch progress with the fields the rules read; the rest are plausible constants. */
function batch(fields: Partial<Omit<StreamingQueryProgress, 'json' | 'prettyJson'>> = {}): StreamingQueryProgress {
  return {
    id: 'q1',
    runId: 'r1',
    name: null,
    timestamp: '2026-01-01T00:00:00.000Z',
    batchId: 0,
    batchDuration: 10,
    numInputRows: 10,
    inputRowsPerSecond: 100,
    processedRowsPerSecond: 1000,
    durationMs: { latestOffset: 1, getOffset: 1, addBatch: 5, triggerExecution: 10 },
    eventTime: {},
    stateOperators: [],
    sources: [],
    sink: { description: 'test', numOutputRows: 10 },
    json: () => '{}',
    prettyJson: () => '{}',
    ...fields,
  }
}

/** A progress whose state operators hold `totals` rows each. */
function withState(batchId: number, ...totals: number[]): StreamingQueryProgress {
  return batch({
    batchId,
    stateOperators: totals.map((n, i) => ({
      operatorName: `op${i}`,
      numRowsTotal: n,
      numRowsUpdated: 0,
      numRowsRemoved: 0,
      numRowsDroppedByWatermark: 0,
      memoryUsedBytes: 0,
      numShufflePartitions: 1,
      numStateStoreInstances: 1,
      commitTimeMs: 0,
      allUpdatesTimeMs: 0,
      allRemovalsTimeMs: 0,
    })),
  })
}

/** The part of a query the rules look at; `status` can be changed between ticks. */
function fakeQuery(trigger: Trigger = { kind: 'processingTime', intervalMs: 0 }) {
  const q = {
    trigger,
    status: { message: 'Waiting for data to arrive', isDataAvailable: false, isTriggerActive: false } as StreamingQueryStatus,
    lastProgress: null as StreamingQueryProgress | null,
  }
  return { q, query: q as unknown as StreamingQuery }
}

describe('fallingBehind', () => {
  const behind = (batchId: number) => batch({ batchId, inputRowsPerSecond: 250, processedRowsPerSecond: 50 })

  it('fires at the third consecutive batch whose input rate is above its processing rate, by default', () => {
    const rule = fallingBehind()
    expect(rule.name).toBe('fallingBehind')
    expect(rule.tickMs).toBeUndefined()
    const w = rule.watch(fakeQuery().query)
    expect(w.batch!(behind(0))).toBeUndefined()
    expect(w.batch!(behind(1))).toBeUndefined()
    expect(w.batch!(behind(2))).toEqual({
      firing: true,
      message: 'input 250 rows/s above processing 50.0 rows/s for 3 batches',
      details: { batchId: 2, inputRowsPerSecond: 250, processedRowsPerSecond: 50, batches: 3 },
    })
    expect(w.batch!(behind(3))).toMatchObject({ firing: true, message: 'input 250 rows/s above processing 50.0 rows/s for 4 batches' })
  })

  it('writes rates of 100 rows/s and more without decimals, lower rates with one', () => {
    const w = fallingBehind({ batches: 1 }).watch(fakeQuery().query)
    expect(w.batch!(batch({ inputRowsPerSecond: 100, processedRowsPerSecond: 99.96 }))).toMatchObject({
      message: 'input 100 rows/s above processing 100.0 rows/s for 1 batches',
    })
    expect(w.batch!(batch({ inputRowsPerSecond: 1234.5, processedRowsPerSecond: 99.94 }))).toMatchObject({
      message: 'input 1235 rows/s above processing 99.9 rows/s for 2 batches',
    })
  })

  it('clears, and restarts the count, at a batch that keeps up exactly', () => {
    const w = fallingBehind({ batches: 2 }).watch(fakeQuery().query)
    expect(w.batch!(behind(0))).toBeUndefined()
    expect(w.batch!(batch({ batchId: 1, inputRowsPerSecond: 50, processedRowsPerSecond: 50 }))).toEqual(clear)
    expect(w.batch!(behind(2))).toBeUndefined()
    expect(w.batch!(behind(3))).toMatchObject({ firing: true, details: { batches: 2 } })
  })

  it('clears, and restarts the count, at a batch without rows and when idle', () => {
    const w = fallingBehind({ batches: 2 }).watch(fakeQuery().query)
    expect(w.batch!(behind(0))).toBeUndefined()
    expect(w.batch!(batch({ batchId: 1, numInputRows: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0 }))).toEqual(clear)
    expect(w.batch!(behind(2))).toBeUndefined()
    expect(w.idle!()).toEqual(clear)
    expect(w.batch!(behind(3))).toBeUndefined()
    expect(w.batch!(behind(4))).toMatchObject({ firing: true, details: { batchId: 4, batches: 2 } })
  })

  it('says nothing at a batch with rows but no input rate (the first of a run, or two triggers in one ms), and keeps the count', () => {
    const w = fallingBehind({ batches: 2 }).watch(fakeQuery().query)
    expect(w.batch!(behind(0))).toBeUndefined()
    expect(w.batch!(batch({ batchId: 1, numInputRows: 5, inputRowsPerSecond: 0, processedRowsPerSecond: 500 }))).toBeUndefined()
    expect(w.batch!(behind(2))).toMatchObject({ firing: true, details: { batchId: 2, batches: 2 } })
  })

  it('gives each watch its own count', () => {
    const rule = fallingBehind({ batches: 2 })
    const a = rule.watch(fakeQuery().query)
    const b = rule.watch(fakeQuery().query)
    expect(a.batch!(behind(0))).toBeUndefined()
    expect(b.batch!(behind(0))).toBeUndefined()
    expect(a.batch!(behind(1))).toMatchObject({ firing: true })
  })

  it('refuses a count of batches that is not a positive integer', () => {
    expect(() => fallingBehind({ batches: 0 })).toThrow(new RangeError('fallingBehind: batches must be a positive integer, got 0'))
    expect(() => fallingBehind({ batches: 1.5 })).toThrow(new RangeError('fallingBehind: batches must be a positive integer, got 1.5'))
    expect(fallingBehind({ batches: 1 }).watch(fakeQuery().query).batch!(behind(0))).toMatchObject({ firing: true })
  })
})

describe('stalled', () => {
  const T0 = Date.parse('2026-01-01T00:00:00.000Z')
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const busy = { message: 'Processing new data', isDataAvailable: true, isTriggerActive: true }

  it('ticks at a quarter of its bound, within 20 ms to 1 s', () => {
    expect(stalled({ after: 300 }).tickMs).toBe(75)
    expect(stalled({ after: 40 }).tickMs).toBe(20)
    expect(stalled({ after: 100 }).tickMs).toBe(25)
    expect(stalled({ after: '4 seconds' }).tickMs).toBe(1000)
    expect(stalled({ after: '2 minutes' }).tickMs).toBe(1000)
    expect(stalled({ after: 2000 }).name).toBe('stalled')
  })

  it('refuses a bound that is not a positive duration', () => {
    expect(() => stalled({ after: 0 })).toThrow(new RangeError('stalled: after must be positive, got 0'))
    expect(() => stalled({ after: '0 s' })).toThrow(new RangeError('stalled: after must be positive, got 0 s'))
    expect(() => stalled({ after: -5 })).toThrow(new RangeError('stalled: after: expected a non-negative duration, got -5'))
    expect(() => stalled({ after: 'soon' })).toThrow(/^stalled: after: cannot read duration 'soon'/)
  })

  it('fires once the query has been busy on ticks `after` apart, not a millisecond earlier, naming its status', () => {
    const { q, query } = fakeQuery()
    const w = stalled({ after: 300 }).watch(query)
    q.status = busy
    q.lastProgress = batch({ timestamp: '2025-12-31T23:59:59.000Z' })
    vi.setSystemTime(T0 + 1000)
    // The first busy sample only starts the count, however long ago the last batch was.
    expect(w.tick!(T0 + 1000)).toBeUndefined()
    expect(w.tick!(T0 + 1299)).toBeUndefined()
    expect(w.tick!(T0 + 1300)).toEqual({
      firing: true,
      message: 'no batch completed for 1 s while Processing new data',
      details: { status: busy, lastProgress: '2025-12-31T23:59:59.000Z', afterMs: 300 },
    })
    expect(w.tick!(T0 + 2600)).toMatchObject({ message: 'no batch completed for 3 s while Processing new data' })
  })

  it('counts again from the first busy tick after a batch, and reports no last progress as null', () => {
    const { q, query } = fakeQuery()
    const w = stalled({ after: 300 }).watch(query)
    q.status = busy
    expect(w.tick!(T0)).toBeUndefined()
    vi.setSystemTime(T0 + 200)
    expect(w.batch!(batch())).toEqual(clear)
    expect(w.tick!(T0 + 250)).toBeUndefined()
    expect(w.tick!(T0 + 549)).toBeUndefined()
    expect(w.tick!(T0 + 550)).toMatchObject({ firing: true, details: { lastProgress: null } })
  })

  it('is busy when data is available or a trigger is running, either alone', () => {
    for (const status of [
      { message: 'Data available', isDataAvailable: true, isTriggerActive: false },
      { message: 'Trigger running', isDataAvailable: false, isTriggerActive: true },
    ]) {
      const { q, query } = fakeQuery()
      const w = stalled({ after: 100 }).watch(query)
      q.status = status
      expect(w.tick!(T0)).toBeUndefined()
      expect(w.tick!(T0 + 100)).toMatchObject({ firing: true, message: `no batch completed for 0 s while ${status.message}` })
    }
  })

  it('never fires on a query that finishes a batch every 100 ms, nor on one that goes idle as often', () => {
    for (const report of ['batch', 'idle'] as const) {
      const { q, query } = fakeQuery()
      const w = stalled({ after: 300 }).watch(query)
      q.status = busy
      const verdicts: unknown[] = []
      for (let t = 0; t <= 2000; t += 25) {
        vi.setSystemTime(T0 + t)
        if (t > 0 && t % 100 === 0) verdicts.push(report === 'batch' ? w.batch!(batch({ batchId: t / 100 })) : w.idle!())
        verdicts.push(w.tick!(T0 + t))
      }
      expect(verdicts.filter((v) => v !== undefined), report).toEqual(Array(20).fill(clear))
    }
  })

  it('clears on a tick where the query is neither busy nor has data, and counts again from the next busy tick', () => {
    const { q, query } = fakeQuery()
    const w = stalled({ after: 300 }).watch(query)
    q.status = busy
    expect(w.tick!(T0)).toBeUndefined()
    q.status = { message: 'Waiting for data to arrive', isDataAvailable: false, isTriggerActive: false }
    expect(w.tick!(T0 + 200)).toEqual(clear)
    q.status = busy
    expect(w.tick!(T0 + 400)).toBeUndefined()
    expect(w.tick!(T0 + 699)).toBeUndefined()
    expect(w.tick!(T0 + 700)).toMatchObject({ firing: true })
  })

  it('never fires on a query that stays idle', () => {
    const { query } = fakeQuery()
    const w = stalled({ after: 50 }).watch(query)
    for (let t = 0; t <= 1000; t += 20) expect(w.tick!(T0 + t)).toEqual(clear)
  })
})

describe('slowBatch', () => {
  it('takes its bound from a processing-time trigger when not given one, and fires only above it', () => {
    const rule = slowBatch()
    expect(rule.name).toBe('slowBatch')
    const w = rule.watch(fakeQuery({ kind: 'processingTime', intervalMs: 1000 }).query)
    expect(w.batch!(batch({ batchId: 4, batchDuration: 1000 }))).toEqual(clear)
    const durationMs = { latestOffset: 1, getOffset: 1, addBatch: 1000, triggerExecution: 1001 }
    expect(w.batch!(batch({ batchId: 5, batchDuration: 1001, durationMs }))).toEqual({
      firing: true,
      message: 'batch 5 took 1001 ms, over 1000 ms',
      details: { batchId: 5, batchDuration: 1001, boundMs: 1000, durationMs },
    })
    expect(w.batch!(batch({ batchId: 6, batchDuration: 3 }))).toEqual(clear)
  })

  it('does not judge a query without a bound: no `over` and no processing-time interval', () => {
    const rule = slowBatch()
    for (const trigger of [{ kind: 'processingTime', intervalMs: 0 }, { kind: 'once' }, { kind: 'availableNow' }] as const) {
      expect(rule.watch(fakeQuery(trigger).query), trigger.kind).toEqual({})
    }
  })

  it('prefers its own bound, given as ms or as text, to the trigger interval', () => {
    const w = slowBatch({ over: 50 }).watch(fakeQuery({ kind: 'processingTime', intervalMs: 1000 }).query)
    expect(w.batch!(batch({ batchDuration: 50 }))).toEqual(clear)
    expect(w.batch!(batch({ batchDuration: 51 }))).toMatchObject({ firing: true, message: 'batch 0 took 51 ms, over 50 ms' })
    const text = slowBatch({ over: '2 seconds' }).watch(fakeQuery({ kind: 'once' }).query)
    expect(text.batch!(batch({ batchDuration: 2000 }))).toEqual(clear)
    expect(text.batch!(batch({ batchDuration: 2001 }))).toMatchObject({ firing: true, details: { boundMs: 2000 } })
  })

  it('refuses a bound that is not a positive duration', () => {
    expect(() => slowBatch({ over: 0 })).toThrow(new RangeError('slowBatch: over must be positive, got 0'))
    expect(() => slowBatch({ over: '0 ms' })).toThrow(new RangeError('slowBatch: over must be positive, got 0 ms'))
    expect(() => slowBatch({ over: 'fast' })).toThrow(/^slowBatch: over: cannot read duration 'fast'/)
  })
})

describe('queryFailed', () => {
  it('fires on termination with an error, naming it, and clears on a clean stop', () => {
    const rule = queryFailed()
    expect(rule.name).toBe('queryFailed')
    const w: RuleWatcher = rule.watch(fakeQuery().query)
    expect(w.batch).toBeUndefined()
    expect(w.terminated!('Error: disk full')).toEqual({ firing: true, message: 'query failed: Error: disk full', details: { exception: 'Error: disk full' } })
    expect(w.terminated!(undefined)).toEqual(clear)
  })
})

describe('stateGrowth', () => {
  it('says nothing about a batch without stateful operators', () => {
    const w = stateGrowth({ rows: 1 }).watch(fakeQuery().query)
    expect(w.batch!(batch())).toBeUndefined()
  })

  it('fires when all operators together hold more than `rows`, not at exactly `rows`', () => {
    const w = stateGrowth({ rows: 10 }).watch(fakeQuery().query)
    expect(w.batch!(withState(0, 4, 6))).toEqual(clear)
    expect(w.batch!(withState(1, 5, 6))).toEqual({
      firing: true,
      message: 'state holds 11 rows, above 10',
      details: { batchId: 1, stateRows: 11, operators: { op0: 5, op1: 6 }, boundRows: 10, growingBatches: 1 },
    })
    // With only `rows` given, growth alone never fires.
    for (let i = 2; i < 30; i++) expect(w.batch!(withState(i, 0, i / 10))).toEqual(clear)
  })

  it('fires after 10 consecutive growing batches by default, and clears at a batch that does not grow', () => {
    const w = stateGrowth().watch(fakeQuery().query)
    expect(w.batch!(withState(0, 100))).toEqual(clear)
    for (let i = 1; i < 10; i++) expect(w.batch!(withState(i, 100 + i)), `batch ${i}`).toEqual(clear)
    expect(w.batch!(withState(10, 110))).toEqual({
      firing: true,
      message: 'state grew on each of the last 10 batches, to 110 rows',
      details: { batchId: 10, stateRows: 110, operators: { op0: 110 }, growingBatches: 10 },
    })
    expect(w.batch!(withState(11, 110))).toEqual(clear)
  })

  it('with both bounds, fires on either and names the row bound first', () => {
    const w = stateGrowth({ rows: 5, batches: 2 }).watch(fakeQuery().query)
    expect(w.batch!(withState(0, 1))).toEqual(clear)
    expect(w.batch!(withState(1, 2))).toEqual(clear)
    expect(w.batch!(withState(2, 3))).toMatchObject({ firing: true, message: 'state grew on each of the last 2 batches, to 3 rows', details: { boundRows: 5 } })
    expect(w.batch!(withState(3, 2))).toEqual(clear)
    expect(w.batch!(withState(4, 6))).toMatchObject({ firing: true, message: 'state holds 6 rows, above 5', details: { growingBatches: 1 } })
    expect(w.batch!(withState(5, 7))).toMatchObject({ firing: true, message: 'state holds 7 rows, above 5', details: { growingBatches: 2 } })
  })

  it('refuses bounds that are not positive integers', () => {
    expect(() => stateGrowth({ rows: 0 })).toThrow(new RangeError('stateGrowth: rows must be a positive integer, got 0'))
    expect(() => stateGrowth({ batches: 2.5 })).toThrow(new RangeError('stateGrowth: batches must be a positive integer, got 2.5'))
  })
})
