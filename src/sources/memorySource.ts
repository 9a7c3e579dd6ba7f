import type { Offset, Source, SourceReader } from './source.js'

/**
 * A source fed by the application, and its handle (Spark's MemoryStream).
 * @example
 * const input = memorySource<{ user: string }>()
 * const query = await session.readStream(input.source).pipe(groupBy((r) => r.user, t.string), count()).writeStream(opts).start()
 * input.addData([{ user: 'a' }, { user: 'b' }])
 */
export interface MemorySource<T> {
  readonly source: Source<T>
  /**
   * Appends the rows; they form (part of) the next micro-batch. Returns the offset after them. An array is kept as
   * it is, not copied (copying each batch cost a quarter of a stateless query's time): the source owns it from now
   * on, and the caller must not change it afterwards, because a restart may replay it. Any other iterable is read
   * into a new array at once. A batch that is exactly one call's rows is handed on as that array, so a sink must not
   * mutate the arrays it receives either.
   */
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
  // Rows are kept in the chunks they were added in: appending to one ever-growing array re-allocates and copies it
  // (tens of ms per 100,000 rows once it holds millions).
  const chunks: T[][] = []
  const chunkStarts: number[] = []
  let total = 0
  const slice = (from: number, to: number): T[] => {
    const out: T[] = []
    let i = upperBound(chunkStarts, from) - 1
    for (; i < chunks.length && i >= 0 && chunkStarts[i]! < to; i++) {
      const chunk = chunks[i]!
      const base = chunkStarts[i]!
      const a = Math.max(from - base, 0)
      const b = Math.min(to - base, chunk.length)
      // A batch that is exactly one addData chunk is that chunk: the engine never mutates the rows arrays it is given.
      if (a === 0 && b === chunk.length && out.length === 0 && to - from === chunk.length) return chunk
      // A batch inside one chunk is one native slice, not a push per row.
      if (out.length === 0 && b - a === to - from) return chunk.slice(a, b)
      for (let j = a; j < b; j++) out.push(chunk[j]!)
    }
    return out
  }
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
          let end = availableNowEnd ?? total
          if (mode === 'default' && limit !== undefined) end = Math.min(end, from + limit)
          return Math.max(end, from)
        },
        async getBatch(start, end) {
          return slice(asCount(start), asCount(end))
        },
        async commit() {},
        async prepareForTriggerAvailableNow() {
          availableNowEnd = total
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
      const chunk = Array.isArray(more) ? (more as T[]) : Array.from(more)
      if (chunk.length > 0) {
        chunks.push(chunk)
        chunkStarts.push(total)
        total += chunk.length
      }
      for (const l of listeners) l()
      return total
    },
  }
}

/** The index of the first element of the sorted `xs` greater than `x`. */
function upperBound(xs: readonly number[], x: number): number {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

function asCount(offset: Offset): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new TypeError(`memorySource: offset must be a row count, got ${JSON.stringify(offset)}`)
  }
  return offset
}
