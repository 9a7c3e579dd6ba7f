/**
 * The progress reporter on its own, fed hand-made measurements: every field of a batch and of an idle progress with
 * exact values (no real clock), the two rates and their boundaries, the state figures and the history it keeps.
 */
import { describe, expect, it } from 'vitest'
import type { StatefulExec } from '../../src/exec/batch.js'
import type { StateOperatorProgress } from '../../src/exec/progress.js'
import { type BatchMeasurements, type IdleMeasurements, ProgressReporter, stateOperatorProgress } from '../../src/exec/progressReporter.js'
import { isIdleProgress, type StreamingQueryProgress } from '../../src/index.js'

const T0 = 1_700_000_000_000
const iso = (ms: number) => new Date(ms).toISOString()
const query = { id: 'q-id', runId: 'run-id', name: 'counts' }

function reporter(options: { hasWatermark?: boolean; capacity?: number } = {}): ProgressReporter {
  return new ProgressReporter(query, 'MemoryStream[0]', 'MemorySink', options.hasWatermark ?? false, options.capacity ?? 100)
}

const durations = { latestOffset: 1, getOffset: 1, getBatch: 2, queryPlanning: 3, addBatch: 4, walCommit: 5, commitOffsets: 6, triggerExecution: 17 }

const operator: StateOperatorProgress = {
  operatorName: 'count',
  numRowsTotal: 7,
  numRowsUpdated: 3,
  numRowsRemoved: 2,
  numRowsDroppedByWatermark: 1,
  memoryUsedBytes: 512,
  numShufflePartitions: 4,
  numStateStoreInstances: 4,
  commitTimeMs: 9,
  allUpdatesTimeMs: 11,
  allRemovalsTimeMs: 13,
}

function batch(over: Partial<BatchMeasurements> = {}): BatchMeasurements {
  return {
    batchId: 0,
    triggerStart: T0,
    elapsedMs: 250,
    numInputRows: 10,
    numOutputRows: 4,
    durationMs: durations,
    eventTime: undefined,
    watermarkMs: 0,
    stateOperators: [],
    start: null,
    end: 10,
    sourceMetrics: { avgOffsetsBehindLatest: 0 },
    ...over,
  }
}

function idle(over: Partial<IdleMeasurements> = {}): IdleMeasurements {
  return {
    triggerStart: T0,
    latestOffsetMs: 0.4,
    elapsedMs: 2.6,
    lastBatchId: 3,
    committed: 10,
    watermarkMs: 0,
    sourceMetrics: { avgOffsetsBehindLatest: 0 },
    ...over,
  }
}

/** The own enumerable fields of a progress (what its JSON carries). */
const fieldsOf = (p: StreamingQueryProgress) => ({ ...p })

describe('ProgressReporter: a batch', () => {
  it('reports every field of the first batch of a run, with no input rate and rows over the exact trigger time', () => {
    const p = reporter().record(batch({ stateOperators: [operator] }))
    expect(fieldsOf(p)).toEqual({
      id: 'q-id',
      runId: 'run-id',
      name: 'counts',
      timestamp: iso(T0),
      batchId: 0,
      batchDuration: 17,
      numInputRows: 10,
      inputRowsPerSecond: 0,
      processedRowsPerSecond: 40,
      durationMs: durations,
      eventTime: {},
      stateOperators: [operator],
      sources: [
        {
          description: 'MemoryStream[0]',
          startOffset: null,
          endOffset: 10,
          numInputRows: 10,
          inputRowsPerSecond: 0,
          processedRowsPerSecond: 40,
          metrics: { avgOffsetsBehindLatest: 0 },
        },
      ],
      sink: { description: 'MemorySink', numOutputRows: 4 },
    })
    expect(isIdleProgress(p)).toBe(false)
  })

  it('computes the input rate over the time since the previous batch started, for the query and its source', () => {
    const r = reporter()
    r.record(batch())
    const p = r.record(batch({ batchId: 1, triggerStart: T0 + 2000, numInputRows: 30, start: 10, end: 40 }))
    expect(p.inputRowsPerSecond).toBe(15)
    expect(p.sources[0]).toMatchObject({ inputRowsPerSecond: 15, startOffset: 10, endOffset: 40 })
    // The clock moves with each batch: the third rate counts from the second batch, not the first.
    const q = r.record(batch({ batchId: 2, triggerStart: T0 + 2500, numInputRows: 5 }))
    expect(q.inputRowsPerSecond).toBe(10)
  })

  it('gives no input rate when the previous batch started at the same ms (no time has passed)', () => {
    const r = reporter()
    r.record(batch())
    expect(r.record(batch({ batchId: 1 })).inputRowsPerSecond).toBe(0)
  })

  it('gives an input rate when a single ms has passed', () => {
    const r = reporter()
    r.record(batch())
    expect(r.record(batch({ batchId: 1, triggerStart: T0 + 1, numInputRows: 2 })).inputRowsPerSecond).toBe(2000)
  })

  it('divides the processed rows by the exact trigger time, and by 1 ms when the trigger took less', () => {
    const r = reporter()
    expect(r.record(batch({ elapsedMs: 2, numInputRows: 10 })).processedRowsPerSecond).toBe(5000)
    expect(r.record(batch({ elapsedMs: 0.25, numInputRows: 10 })).processedRowsPerSecond).toBe(10_000)
    expect(r.record(batch({ elapsedMs: 1, numInputRows: 10 })).processedRowsPerSecond).toBe(10_000)
    expect(r.record(batch({ elapsedMs: 0, numInputRows: 0 })).processedRowsPerSecond).toBe(0)
  })

  it('reports only the watermark when a query with one reads no event times in the batch', () => {
    const p = reporter({ hasWatermark: true }).record(batch({ watermarkMs: T0 - 5000 }))
    expect(p.eventTime).toEqual({ watermark: iso(T0 - 5000) })
  })

  it('reports min, max, the average rounded to a ms, and the watermark of a batch with event times', () => {
    const eventTime = { min: T0, max: T0 + 3, sum: 3 * T0 + 4, count: 3 }
    const p = reporter({ hasWatermark: true }).record(batch({ eventTime, watermarkMs: T0 - 10_000 }))
    expect(p.eventTime).toEqual({ min: iso(T0), max: iso(T0 + 3), avg: iso(T0 + 1), watermark: iso(T0 - 10_000) })
    // 2/3 of a ms rounds up.
    const up = reporter({ hasWatermark: true }).record(batch({ eventTime: { min: T0, max: T0 + 1, sum: 3 * T0 + 2, count: 3 } }))
    expect(up.eventTime.avg).toBe(iso(T0 + 1))
  })

  it('reports no event time without a watermark, even when the batch measured some', () => {
    const p = reporter({ hasWatermark: false }).record(batch({ eventTime: { min: T0, max: T0, sum: T0, count: 1 } }))
    expect(p.eventTime).toEqual({})
  })

  it('reports a query without a name with a null name', () => {
    const r = new ProgressReporter({ id: 'i', runId: 'r', name: null }, 'src', 'snk', false, 10)
    expect(r.record(batch())).toMatchObject({ id: 'i', runId: 'r', name: null, sources: [{ description: 'src' }], sink: { description: 'snk' } })
  })
})

describe('ProgressReporter: an idle trigger', () => {
  it('reports every field: no rows, the last batch id, the committed offset at both ends, rounded durations', () => {
    const p = reporter().recordIdle(idle({ triggerStart: T0 + 7, latestOffsetMs: 1.6, elapsedMs: 2.4 }))
    expect(fieldsOf(p)).toEqual({
      id: 'q-id',
      runId: 'run-id',
      name: 'counts',
      timestamp: iso(T0 + 7),
      batchId: 3,
      batchDuration: 2,
      numInputRows: 0,
      inputRowsPerSecond: 0,
      processedRowsPerSecond: 0,
      durationMs: { latestOffset: 2, getOffset: 2, triggerExecution: 2 },
      eventTime: {},
      stateOperators: [],
      sources: [
        {
          description: 'MemoryStream[0]',
          startOffset: 10,
          endOffset: 10,
          numInputRows: 0,
          inputRowsPerSecond: 0,
          processedRowsPerSecond: 0,
          metrics: { avgOffsetsBehindLatest: 0 },
        },
      ],
      sink: { description: 'MemorySink', numOutputRows: 0 },
    })
    expect(isIdleProgress(p)).toBe(true)
  })

  it('reports the watermark of a query that has one', () => {
    expect(reporter({ hasWatermark: true }).recordIdle(idle({ watermarkMs: T0 })).eventTime).toEqual({ watermark: iso(T0) })
  })

  it("repeats the last batch's state operators with their totals and nothing updated, removed, dropped or timed", () => {
    const r = reporter()
    r.record(batch({ stateOperators: [operator] }))
    expect(r.recordIdle(idle()).stateOperators).toEqual([
      {
        operatorName: 'count',
        numRowsTotal: 7,
        numRowsUpdated: 0,
        numRowsRemoved: 0,
        numRowsDroppedByWatermark: 0,
        memoryUsedBytes: 512,
        numShufflePartitions: 4,
        numStateStoreInstances: 4,
        commitTimeMs: 0,
        allUpdatesTimeMs: 0,
        allRemovalsTimeMs: 0,
      },
    ])
  })

  it('does not move the input-rate clock: the next batch counts from the previous batch', () => {
    const r = reporter()
    r.record(batch())
    r.recordIdle(idle({ triggerStart: T0 + 1000 }))
    expect(r.record(batch({ batchId: 1, triggerStart: T0 + 2000, numInputRows: 10 })).inputRowsPerSecond).toBe(5)
  })
})

describe('ProgressReporter: the progress it keeps and publishes', () => {
  it('keeps the most recent `capacity` progresses, oldest first, and the last one', () => {
    const r = reporter({ capacity: 2 })
    expect(r.last).toBeUndefined()
    expect(r.recent).toEqual([])
    r.record(batch({ batchId: 0 }))
    r.record(batch({ batchId: 1 }))
    expect(r.recent.map((p) => p.batchId)).toEqual([0, 1])
    r.record(batch({ batchId: 2 }))
    expect(r.recent.map((p) => p.batchId)).toEqual([1, 2])
    expect(r.last?.batchId).toBe(2)
  })

  it('hands out a copy of its history, not the history itself', () => {
    const r = reporter()
    r.record(batch())
    const recent = r.recent as StreamingQueryProgress[]
    recent.pop()
    expect(r.recent).toHaveLength(1)
  })

  it('publishes each progress on progress$ and completes it', () => {
    const r = reporter()
    const seen: number[] = []
    let completed = false
    r.progress$.subscribe({ next: (p) => seen.push(p.batchId), complete: () => (completed = true) })
    const p = r.record(batch({ batchId: 5 }))
    r.recordIdle(idle({ lastBatchId: 5 }))
    expect(seen).toEqual([5, 5])
    expect(completed).toBe(false)
    r.complete()
    expect(completed).toBe(true)
    expect(Object.isFrozen(p)).toBe(true)
  })

  it('serializes to JSON with exactly its fields, compact and indented', () => {
    const p = reporter().record(batch())
    expect(JSON.parse(p.json())).toEqual(JSON.parse(JSON.stringify(fieldsOf(p))))
    expect(p.json()).toBe(JSON.stringify(fieldsOf(p)))
    expect(p.prettyJson()).toBe(JSON.stringify(fieldsOf(p), null, 2))
  })
})

describe('stateOperatorProgress', () => {
  function exec(removalsTimeMs: number): StatefulExec {
    const store = { size: 12, numRowsUpdated: 5, numRowsRemoved: 3, partitions: 6, estimateMemoryBytes: () => 2048 }
    return { spec: { name: 'dropDuplicates' }, store, numRowsDroppedByWatermark: 2, removalsTimeMs } as unknown as StatefulExec
  }

  it("reads the operator's figures, splitting its run time into removals and the rest, rounded", () => {
    expect(stateOperatorProgress(exec(2.4), 10.2)).toEqual({
      operatorName: 'dropDuplicates',
      numRowsTotal: 12,
      numRowsUpdated: 5,
      numRowsRemoved: 3,
      numRowsDroppedByWatermark: 2,
      memoryUsedBytes: 2048,
      numShufflePartitions: 6,
      numStateStoreInstances: 6,
      commitTimeMs: 0,
      allUpdatesTimeMs: 8,
      allRemovalsTimeMs: 2,
    })
  })

  it('never reports negative update time when removals were measured longer than the whole run', () => {
    expect(stateOperatorProgress(exec(5), 3)).toMatchObject({ allUpdatesTimeMs: 0, allRemovalsTimeMs: 5 })
  })

  it('counts no run time when none is given', () => {
    expect(stateOperatorProgress(exec(0))).toMatchObject({ allUpdatesTimeMs: 0, allRemovalsTimeMs: 0 })
    expect(stateOperatorProgress(exec(0), 4)).toMatchObject({ allUpdatesTimeMs: 4 })
  })
})
