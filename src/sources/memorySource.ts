import type { Offset, Source, SourceReader } from './source.js'

/** A source fed by the application, and its handle (Spark's MemoryStream). */
export interface MemorySource<T> {
  readonly source: Source<T>
  /** Appends rows; they form (part of) the next micro-batch. Returns the offset after them. */
  addData(rows: Iterable<T>): number
}

let nextId = 0

/**
 * An in-memory source for tests and examples: `addData(rows)` appends rows, offsets are row counts, so any offset
 * range can be re-read (replayable). Rows live only in this process.
 * @example
 * const input = memorySource<{ user: string }>()
 * input.addData([{ user: 'a' }])
 * session.readStream(input.source)
 */
export function memorySource<T>(options: { maxRowsPerTrigger?: number; name?: string } = {}): MemorySource<T> {
  const rows: T[] = []
  const listeners = new Set<() => void>()
  const id = nextId++
  const limit = options.maxRowsPerTrigger
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`memorySource: maxRowsPerTrigger must be a positive integer, got ${limit}`)
  }
  let availableNowEnd: number | undefined
  const source: Source<T> = {
    get description() {
      return `MemorySource[${options.name ?? id}]`
    },
    kind: 'memory',
    identity: options.name ?? 'memory',
    async open(): Promise<SourceReader<T>> {
      return {
        initialOffset: () => 0,
        async latestOffset(start, mode) {
          const from = asCount(start)
          let end = availableNowEnd ?? rows.length
          if (mode === 'default' && limit !== undefined) end = Math.min(end, from + limit)
          return Math.max(end, from)
        },
        async getBatch(start, end) {
          return rows.slice(asCount(start), asCount(end))
        },
        async commit() {},
        async prepareForTriggerAvailableNow() {
          availableNowEnd = rows.length
        },
        onDataAvailable(listener) {
          listeners.add(listener)
          return () => listeners.delete(listener)
        },
        async stop() {
          availableNowEnd = undefined
        },
      }
    },
  }
  return {
    source,
    addData(more) {
      for (const row of more) rows.push(row)
      for (const l of listeners) l()
      return rows.length
    },
  }
}

function asCount(offset: Offset): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new TypeError(`memorySource: offset must be a row count, got ${JSON.stringify(offset)}`)
  }
  return offset
}
