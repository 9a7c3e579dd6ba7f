import type { OutputMode } from '../plan/plan.js'
import { stableStringify } from '../util/keys.js'
import type { Sink, SinkWriter } from './sink.js'

/**
 * An in-memory sink and its result table.
 * @example
 * const sink = memorySink<{ key: string; count: number }>()
 * await query.processAllAvailable()
 * sink.rows() // [{ key: 'a', count: 2 }, …]; sink.lastBatchId // e.g. 3
 */
export interface MemorySink<R> extends Sink<R> {
  /**
   * The result table: append → every row in order; update → rows upserted by `key` and `window`; complete → the
   * rows of the last batch.
   */
  rows(): R[]
  /** The id of the last batch this sink committed, or -1. */
  readonly lastBatchId: number
}

/**
 * Collects a query's output in memory (Spark's memory sink): read it with `.rows()` or `session.table(queryName)`.
 * Idempotent by batchId: a batch id it has already committed is skipped, so a replayed batch never duplicates rows
 * (per task, for a query over a partitioned source).
 * @example
 * const sink = memorySink<{ key: string; count: number }>()
 * await stream.writeStream({ outputMode: 'complete', sink }).start()
 */
export function memorySink<R = unknown>(): MemorySink<R> {
  const table = new Map<string, R>()
  let appended: R[] = []
  let mode: OutputMode = 'append'
  let anonymous = 0
  // Per task (-1 without tasks): tasks number their batches independently, and in complete mode each task's last
  // batch is its share of the table.
  const lastBatchIds = new Map<number, number>()
  const completeByTask = new Map<number, R[]>()
  const writerFor = (task: number): SinkWriter<R> => ({
    async addBatch(batchId, rows) {
      if (batchId <= (lastBatchIds.get(task) ?? -1)) return
      switch (mode) {
        case 'append':
          for (const row of rows) appended.push(row)
          break
        case 'complete':
          completeByTask.set(task, rows.slice())
          appended = [...completeByTask.entries()].sort(([a], [b]) => a - b).flatMap(([, r]) => r)
          break
        case 'update':
          for (const row of rows) table.set(upsertKey(row) ?? `\u0000${anonymous++}`, row)
          break
      }
      lastBatchIds.set(task, batchId)
    },
  })
  return {
    description: 'MemorySink',
    async open(ctx) {
      mode = ctx.outputMode
      return writerFor(ctx.task?.task ?? -1)
    },
    rows: () => (mode === 'update' ? [...table.values()] : appended.slice()),
    get lastBatchId() {
      return Math.max(-1, ...lastBatchIds.values())
    },
  }
}

/** The identity of a result row for update mode: its `key` and `window`, when it has a key. */
function upsertKey(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null || !('key' in row)) return undefined
  const r = row as { key: unknown; window?: unknown }
  return stableStringify([r.key, r.window ?? null])
}
