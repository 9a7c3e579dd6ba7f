import type { Sink } from './sink.js'

/**
 * Hands each micro-batch to a function (Spark's foreachBatch). A batch is committed when the returned promise
 * resolves; if it rejects, the query stops with the error and the batch is re-run on restart. Within one run a batch
 * id is never delivered twice, but after a crash the last batch may be delivered again with the same `batchId`: make
 * the write idempotent by it (e.g. upsert keyed by batchId, or record the last written batchId in the same transaction).
 * @example writeStream({ outputMode: 'update', sink: foreachBatch(async (rows, batchId) => db.upsert(batchId, rows)) })
 */
export function foreachBatch<R>(fn: (rows: R[], batchId: number) => Promise<void> | void): Sink<R> {
  return {
    description: 'ForeachBatchSink',
    async open() {
      let lastBatchId = -1
      return {
        async addBatch(batchId, rows) {
          if (batchId <= lastBatchId) return
          await fn(rows, batchId)
          lastBatchId = batchId
        },
      }
    },
  }
}
