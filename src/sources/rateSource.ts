import type { Offset, Source, SourceReader } from './source.js'

/**
 * A row of the rate source: its event timestamp (epoch ms) and a sequence number from 0.
 * @example session.readStream(rateSource({ rowsPerSecond: 10 })).pipe(filter((r: RateRow) => r.value % 2 === 0))
 */
export interface RateRow {
  readonly timestamp: number
  readonly value: number
}

/**
 * Generates `rowsPerSecond` rows `{ timestamp, value }` per second of wall-clock time (Spark's rate source). Row
 * `value = n` has `timestamp = startMs + floor(n * 1000 / rowsPerSecond)`, so rows are a pure function of the offset
 * `{ startMs, rows }`: every range replays exactly. `startMs` is fixed when the query first starts and kept in offsets.
 * @example session.readStream(rateSource({ rowsPerSecond: 100 }))
 * @throws RangeError when rowsPerSecond is not a positive number.
 */
export function rateSource(options: {
  rowsPerSecond: number
  maxRowsPerTrigger?: number
  /** Fixes the start time (for tests); default: the first start of the query. */
  startTimestamp?: number
  /** The clock; default Date.now (for tests). */
  now?: () => number
}): Source<RateRow> {
  const { rowsPerSecond } = options
  if (!(rowsPerSecond > 0) || !Number.isFinite(rowsPerSecond)) {
    throw new RangeError(`rateSource: rowsPerSecond must be a positive number, got ${rowsPerSecond}`)
  }
  const now = options.now ?? Date.now
  return {
    description: `RateSource[rowsPerSecond=${rowsPerSecond}]`,
    kind: 'rate',
    identity: `rate:${rowsPerSecond}`,
    async open(): Promise<SourceReader<RateRow>> {
      let availableNowEnd: number | undefined
      const startMs = options.startTimestamp ?? now()
      const availableAt = (start: number, at: number) => Math.max(0, Math.floor(((at - start) * rowsPerSecond) / 1000))
      return {
        initialOffset: () => ({ startMs, rows: 0 }),
        async latestOffset(start, mode) {
          const from = asRateOffset(start)
          let end = availableNowEnd ?? availableAt(from.startMs, now())
          if (mode === 'default' && options.maxRowsPerTrigger !== undefined) end = Math.min(end, from.rows + options.maxRowsPerTrigger)
          return { startMs: from.startMs, rows: Math.max(end, from.rows) }
        },
        async getBatch(start, end) {
          const from = asRateOffset(start)
          const to = asRateOffset(end)
          const out: RateRow[] = []
          for (let n = from.rows; n < to.rows; n++) {
            out.push({ timestamp: from.startMs + Math.floor((n * 1000) / rowsPerSecond), value: n })
          }
          return out
        },
        async commit() {},
        async prepareForTriggerAvailableNow() {
          availableNowEnd = availableAt(startMs, now())
        },
        async stop() {},
      }
    },
  }
}

function asRateOffset(offset: Offset): { startMs: number; rows: number } {
  const o = offset as { startMs?: unknown; rows?: unknown } | null
  if (typeof o !== 'object' || o === null || typeof o.startMs !== 'number' || typeof o.rows !== 'number') {
    throw new TypeError(`rateSource: offset must be { startMs, rows }, got ${JSON.stringify(offset)}`)
  }
  return { startMs: o.startMs, rows: o.rows }
}
