/** What the demo prints while it runs: one status line over both queries, and the result table. */
import type { StreamingQueryProgress } from '../exec/progress.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import { formatTable } from '../sinks/consoleSink.js'

/**
 * One query's last batch in a few words: batch id, input rate against processing rate, and its state rows.
 * @example querySummary(q) // 'activity_counts batch 7: 1000/s in, 48210/s processed, 6 state rows'
 * @throws never.
 */
export function querySummary(query: StreamingQuery): string {
  const p: StreamingQueryProgress | undefined = query.lastProgress
  if (p === undefined) return `${query.name ?? query.id} waiting for its first batch`
  const stateRows = p.stateOperators.reduce((n, s) => n + s.numRowsTotal, 0)
  return (
    `${query.name ?? query.id} batch ${p.batchId}: ${Math.round(p.inputRowsPerSecond)}/s in, ` +
    `${Math.round(p.processedRowsPerSecond)}/s processed, ${stateRows} state rows`
  )
}

/**
 * The live status line: elapsed time, rows written so far, and each query's summary.
 * @example statusLine(3.2, 6400, [counts, windows]) // '[3s] 6400 rows written | activity_counts batch 3: …'
 * @throws never.
 */
export function statusLine(seconds: number, rowsWritten: number, queries: readonly StreamingQuery[]): string {
  return [`[${Math.floor(seconds)}s] ${rowsWritten} rows written`, ...queries.map(querySummary)].join(' | ')
}

/**
 * The `last` latest closed windows, one row per user and window, with ISO times.
 * @example windowsTable(rows, 6) // '+---+------------------------+…|key|start|end|count|…'
 * @throws never.
 */
export function windowsTable(rows: readonly { key: string; window: { start: number; end: number }; count: number }[], last: number): string {
  const latest = [...rows].sort((a, b) => a.window.start - b.window.start || a.key.localeCompare(b.key)).slice(-last)
  const time = (ms: number) => new Date(ms).toISOString().slice(11, 19)
  return formatTable(latest.map((r) => ({ user: r.key, window: `${time(r.window.start)}–${time(r.window.end)}`, count: r.count })))
}

/**
 * The activity counts as a table, sorted by activity.
 * @example countsTable([{ key: 'sit', count: 3 }]) // '+---+-----+\n|key|count|…'
 * @throws never.
 */
export function countsTable(rows: readonly { key: string; count: number }[]): string {
  return formatTable([...rows].sort((a, b) => a.key.localeCompare(b.key)))
}
