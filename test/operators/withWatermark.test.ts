import { describe, expect, it } from 'vitest'
import { withWatermark } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

describe('withWatermark', () => {
  it('passes rows through unchanged in the reference semantics, even out of event-time order', () => {
    const rows = [{ ts: 30 }, { ts: 10 }, { ts: 20 }]
    expect(emitted(rows, withWatermark((r: { ts: number }) => r.ts, 5))).toEqual(rows)
  })

  it('carries a withWatermark plan node with the delay in milliseconds, read from a duration string', () => {
    const timeOf = (r: { ts: number }) => r.ts
    expect(withWatermark(timeOf, '10 minutes')[PLAN]).toEqual({ kind: 'withWatermark', timeOf, delayMs: 600_000 })
  })

  it('takes a delay given as a number of milliseconds', () => {
    expect(withWatermark((r: { ts: number }) => r.ts, 1500)[PLAN]).toMatchObject({ delayMs: 1500 })
  })

  it('keeps its own plan node when another pass-through operator is made after it', () => {
    const first = withWatermark((r: { ts: number }) => r.ts, 1500)
    const second = withWatermark((r: { ts: number }) => r.ts, 2500)
    expect(first[PLAN]).toMatchObject({ kind: 'withWatermark', delayMs: 1500 })
    expect(second[PLAN]).toMatchObject({ kind: 'withWatermark', delayMs: 2500 })
  })

  it('rejects a delay that is not a duration with a RangeError naming the withWatermark delay', () => {
    expect(() => withWatermark((r: { ts: number }) => r.ts, 'soon')).toThrow(RangeError)
    expect(() => withWatermark((r: { ts: number }) => r.ts, -1)).toThrow(new RangeError('withWatermark delay: expected a non-negative duration, got -1'))
  })
})
