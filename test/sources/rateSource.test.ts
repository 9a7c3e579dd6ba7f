import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nodeFs, rateSource } from '../../src/index.js'
import type { Offset } from '../../src/sources/source.js'

const ctx = { fs: nodeFs, logDir: undefined, restarting: false }

/** A rate source on a clock the test moves by hand. */
async function openAt(options: { rowsPerSecond: number; maxRowsPerTrigger?: number; startTimestamp?: number }, t0: number) {
  let t = t0
  const source = rateSource({ ...options, now: () => t })
  const reader = await source.open(ctx)
  return { source, reader, setNow: (ms: number) => { t = ms } }
}

describe('rateSource', () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses rowsPerSecond %s, naming it', (rowsPerSecond) => {
    expect(() => rateSource({ rowsPerSecond })).toThrow(new RangeError(`rateSource: rowsPerSecond must be a positive number, got ${rowsPerSecond}`))
  })

  it('describes itself by its rate', () => {
    const s = rateSource({ rowsPerSecond: 7 })
    expect([s.description, s.kind, s.identity]).toEqual(['RateSource[rowsPerSecond=7]', 'rate', 'rate:7'])
  })

  it('starts at the clock on open unless a start time is given, with no rows', async () => {
    expect((await openAt({ rowsPerSecond: 10 }, 5_000)).reader.initialOffset()).toEqual({ startMs: 5_000, rows: 0 })
    expect((await openAt({ rowsPerSecond: 10, startTimestamp: 42 }, 5_000)).reader.initialOffset()).toEqual({ startMs: 42, rows: 0 })
  })

  it('makes rowsPerSecond rows available per elapsed second, counted from the offset\'s start time', async () => {
    const { reader, setNow } = await openAt({ rowsPerSecond: 4 }, 1_000)
    const start = reader.initialOffset()
    expect(await reader.latestOffset(start, 'default')).toEqual({ startMs: 1_000, rows: 0 })
    setNow(1_249) // 0.996 rows: none yet
    expect(await reader.latestOffset(start, 'default')).toEqual({ startMs: 1_000, rows: 0 })
    setNow(1_250)
    expect(await reader.latestOffset(start, 'all')).toEqual({ startMs: 1_000, rows: 1 })
    setNow(3_500)
    expect(await reader.latestOffset(start, 'all')).toEqual({ startMs: 1_000, rows: 10 })
    // The start time comes from the offset (a restarted query keeps its first start), not from this reader.
    expect(await reader.latestOffset({ startMs: 2_500, rows: 0 }, 'all')).toEqual({ startMs: 2_500, rows: 4 })
  })

  it('never reports an end before the start, even when the clock goes back', async () => {
    const { reader, setNow } = await openAt({ rowsPerSecond: 10 }, 10_000)
    setNow(9_000)
    expect(await reader.latestOffset({ startMs: 10_000, rows: 0 }, 'all')).toEqual({ startMs: 10_000, rows: 0 })
    expect(await reader.latestOffset({ startMs: 10_000, rows: 3 }, 'all')).toEqual({ startMs: 10_000, rows: 3 })
  })

  it('caps a default trigger at maxRowsPerTrigger past the start, and not a read of all', async () => {
    const { reader } = await openAt({ rowsPerSecond: 100, maxRowsPerTrigger: 30, startTimestamp: 0 }, 1_000)
    expect(await reader.latestOffset({ startMs: 0, rows: 0 }, 'default')).toEqual({ startMs: 0, rows: 30 })
    expect(await reader.latestOffset({ startMs: 0, rows: 80 }, 'default')).toEqual({ startMs: 0, rows: 100 })
    expect(await reader.latestOffset({ startMs: 0, rows: 0 }, 'all')).toEqual({ startMs: 0, rows: 100 })
  })

  it('re-reads any range as the same rows: value n at startMs + floor(n * 1000 / rowsPerSecond)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 0, max: 1e9 }), fc.nat(300), fc.nat(300), async (rate, startMs, a, b) => {
      const { reader } = await openAt({ rowsPerSecond: rate }, 0)
      const [from, to] = a <= b ? [a, b] : [b, a]
      const rows = await reader.getBatch({ startMs, rows: from }, { startMs, rows: to })
      expect(rows).toEqual(Array.from({ length: to - from }, (_, i) => ({ timestamp: startMs + Math.floor(((from + i) * 1000) / rate), value: from + i })))
      expect(await reader.getBatch({ startMs, rows: from }, { startMs, rows: to })).toEqual(rows)
    }), { numRuns: 200 })
  })

  it('availableNow fixes the end at what the clock allowed when it was asked', async () => {
    const { reader, setNow } = await openAt({ rowsPerSecond: 10, startTimestamp: 0 }, 500)
    await reader.prepareForTriggerAvailableNow?.()
    setNow(60_000)
    const start = reader.initialOffset()
    expect(await reader.latestOffset(start, 'all')).toEqual({ startMs: 0, rows: 5 })
    expect(await reader.latestOffset({ startMs: 0, rows: 5 }, 'default')).toEqual({ startMs: 0, rows: 5 })
  })

  it.each<Offset>([null, 3, 'x', { startMs: 1 }, { rows: 1 }, { startMs: '1', rows: 1 }, { startMs: 1, rows: '1' }])('refuses the offset %j, naming it', async (bad) => {
    const { reader } = await openAt({ rowsPerSecond: 10 }, 0)
    const message = `rateSource: offset must be { startMs, rows }, got ${JSON.stringify(bad)}`
    await expect(reader.latestOffset(bad, 'all')).rejects.toThrow(new TypeError(message))
    await expect(reader.getBatch(bad, { startMs: 0, rows: 1 })).rejects.toThrow(new TypeError(message))
    await expect(reader.getBatch({ startMs: 0, rows: 0 }, bad)).rejects.toThrow(new TypeError(message))
  })

  it('commits and stops without error', async () => {
    const { reader } = await openAt({ rowsPerSecond: 10 }, 0)
    await expect(reader.commit({ startMs: 0, rows: 1 })).resolves.toBeUndefined()
    await expect(reader.stop()).resolves.toBeUndefined()
  })
})
