import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { groupBy } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly ts: number
}

describe('groupBy', () => {
  it('tags each row with its key as { key, value }', () => {
    const rows: Reading[] = [{ device: 'a', ts: 1 }, { device: 'b', ts: 2 }]
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string))).toMatchObject([
      { key: 'a', value: rows[0] },
      { key: 'b', value: rows[1] },
    ])
  })

  it('with a tumbling window, tags each row with the epoch-aligned window containing its event time', () => {
    const row: Reading = { device: 'a', ts: 12_345 }
    const op = groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: '10 seconds' } })
    expect(emitted([row], op)).toMatchObject([{ key: 'a', window: { start: 10_000, end: 20_000 }, value: row }])
  })

  it('puts an event time equal to a window end into the next window (windows are [start, end))', () => {
    const op = groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: 10_000 } })
    expect(emitted<{ window: unknown }>([{ device: 'a', ts: 20_000 }], op).map((g) => g.window)).toEqual([
      { start: 20_000, end: 30_000 },
    ])
  })

  it('with a sliding window, emits the row once per window containing it, oldest window first', () => {
    const op = groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: '10 seconds', slide: '5 seconds' } })
    expect(emitted<{ window: unknown }>([{ device: 'a', ts: 12_345 }], op).map((g) => g.window)).toEqual([
      { start: 5_000, end: 15_000 },
      { start: 10_000, end: 20_000 },
    ])
  })

  it('windows negative event times (before the epoch) the same way', () => {
    const op = groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: 10_000 } })
    expect(emitted<{ window: unknown }>([{ device: 'a', ts: -1 }], op).map((g) => g.window)).toEqual([
      { start: -10_000, end: 0 },
    ])
  })

  it('rejects a key that does not match its codec, in the reference semantics too, naming groupBy', () => {
    expect(() => emitted([{ device: 7, ts: 0 }], groupBy((r: { device: unknown }) => r.device as string, t.string))).toThrow(
      new TypeError('groupBy: key 7 does not match the key codec string'),
    )
    const windowed = groupBy((r: { device: unknown; ts: number }) => r.device as string, t.string, { window: { time: (r) => r.ts, size: 1000 } })
    expect(() => emitted([{ device: 7, ts: 0 }], windowed)).toThrow(new TypeError('groupBy: key 7 does not match the key codec string'))
  })

  it('carries a groupBy plan node with the key codec and the window in milliseconds', () => {
    const node = groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: '1 minute', slide: '30 seconds' } })[PLAN]
    expect(node).toMatchObject({ kind: 'groupBy', keyCodec: t.string, window: { sizeMs: 60_000, slideMs: 30_000 } })
  })

  it('rejects a slide larger than the window size with a RangeError', () => {
    expect(() => groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: 5000, slide: 10_000 } })).toThrow(
      RangeError,
    )
  })

  it('rejects a zero window size with a RangeError', () => {
    expect(() => groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: 0 } })).toThrow(RangeError)
  })

  it('rejects a zero slide under a positive size, saying what it got and what is required', () => {
    expect(() => groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: '10 seconds', slide: 0 } })).toThrow(
      new RangeError('groupBy window: size (10000 ms) and slide (0 ms) must be positive, slide ≤ size'),
    )
  })

  it('rejects a window size or slide it cannot read, naming which of the two it was', () => {
    expect(() => groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: 'a while' } })).toThrow(
      /^groupBy window size: cannot read duration 'a while'/,
    )
    expect(() => groupBy((r: Reading) => r.device, t.string, { window: { time: (r) => r.ts, size: '10 seconds', slide: -5 } })).toThrow(
      /^groupBy window slide: expected a non-negative duration, got -5/,
    )
  })
})
