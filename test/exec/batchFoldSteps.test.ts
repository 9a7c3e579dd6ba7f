/**
 * BatchFold over hand-made steps: which failures it records as a step's (so the query does not blame the source),
 * and the steps after the first stateful operator (stateless, watermark, stateful) over its output.
 */
import { describe, expect, it } from 'vitest'
import type { BatchContext, StatefulExec } from '../../src/exec/batch.js'
import type { Step } from '../../src/exec/instantiate.js'
import { BatchFold } from '../../src/exec/runSteps.js'

const ctx: BatchContext = { batchId: 0, watermarkMs: 0, hasWatermark: true, watermarkDelayMs: 0, processingTimeMs: 0, outputMode: 'append' }

/** A stateful operator that collects its rows and emits them from finish (or throws there). */
function collecting(options: { finishThrows?: unknown; addThrows?: unknown; run?: (rows: unknown[]) => unknown[] } = {}): StatefulExec & { seen: unknown[] } {
  const seen: unknown[] = []
  return {
    seen,
    spec: {} as never,
    store: {} as never,
    numRowsDroppedByWatermark: 0,
    removalsTimeMs: 0,
    run: (rows) => (options.run ?? ((r) => r))(rows),
    begin: () => undefined,
    add(rows) {
      if (options.addThrows !== undefined) throw options.addThrows
      seen.push(...rows)
    },
    finish() {
      if (options.finishThrows !== undefined) throw options.finishThrows
      return seen.slice()
    },
    needsNoDataBatch: () => false,
  }
}

describe('BatchFold', () => {
  it('records a plain error thrown by a stateful operator\'s finish as the step\'s failure', () => {
    const boom = new Error('state store unavailable')
    const fold = new BatchFold([{ kind: 'stateful', exec: collecting({ finishThrows: boom }) }], ctx)
    fold.add([1, 2])
    expect(fold.failure).toBeUndefined()
    expect(() => fold.finish()).toThrow(boom)
    expect(fold.failure).toEqual({ error: boom })
    expect(fold.failure!.error).toBe(boom)
  })

  it('keeps the first failure: a later one does not replace it', () => {
    const first = new Error('first')
    const fold = new BatchFold([{ kind: 'stateful', exec: collecting({ addThrows: first }) }], ctx)
    expect(() => fold.add([1])).toThrow(first)
    expect(() => fold.add([2])).toThrow(first)
    expect(fold.failure!.error).toBe(first)
  })

  it('records a stateless step\'s error in add', () => {
    const bad = new TypeError('no field')
    const fold = new BatchFold([{ kind: 'stateless', run: () => { throw bad } }], ctx)
    expect(() => fold.add([1])).toThrow(bad)
    expect(fold.failure).toEqual({ error: bad })
  })

  it('runs a watermark after a stateful operator over its output and reports the event times of that output', () => {
    const second = collecting({ run: (rows) => rows.map((r) => ({ ...(r as object), seen: true })) })
    const steps: Step[] = [
      { kind: 'stateful', exec: collecting() },
      { kind: 'stateless', run: (rows) => rows.map((r) => ({ ts: (r as number) * 1000 })) },
      { kind: 'watermark', label: 'withWatermark #3', timeOf: (r) => (r as { ts: number }).ts },
      { kind: 'stateful', exec: second },
    ]
    const fold = new BatchFold(steps, ctx)
    fold.add([3, 1])
    fold.add([2])
    const result = fold.finish()
    expect(result.output).toEqual([{ ts: 3000, seen: true }, { ts: 1000, seen: true }, { ts: 2000, seen: true }])
    expect(result.eventTime).toEqual({ min: 1000, max: 3000, sum: 6000, count: 3 })
    expect(fold.failure).toBeUndefined()
  })

  it('a watermark after a stateful operator that emitted nothing reports no event time', () => {
    const steps: Step[] = [
      { kind: 'stateful', exec: collecting() },
      { kind: 'watermark', label: 'withWatermark #2', timeOf: (r) => r },
    ]
    const fold = new BatchFold(steps, ctx)
    expect(fold.finish()).toMatchObject({ output: [], eventTime: undefined })
  })

  it('without a stateful step, the output is the stateless steps\' rows, block after block', () => {
    const steps: Step[] = [
      { kind: 'stateless', run: (rows) => rows.filter((r) => (r as number) > 1) },
      { kind: 'watermark', label: 'withWatermark #2', timeOf: (r) => r },
    ]
    const fold = new BatchFold(steps, ctx)
    fold.add([1, 2])
    fold.add([5])
    expect(fold.finish()).toMatchObject({ output: [2, 5], eventTime: { min: 2, max: 5, sum: 7, count: 2 } })
  })
})
