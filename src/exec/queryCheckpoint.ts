import type { PartitionDelta } from '../state/stateStore.js'
import type { StatefulExec } from './batch.js'
import type { Offset } from '../sources/source.js'

/** Where a (re)started query resumes. */
export interface RecoveredPosition {
  /** The batch to run next. */
  readonly nextBatchId: number
  /** The source offset everything up to which is committed, or undefined for a fresh query. */
  readonly committedOffset: Offset | undefined
  readonly watermarkMs: number
  /** A batch whose offsets were logged but which never committed: it must re-run with exactly these offsets. */
  readonly pending:
    | { readonly batchId: number; readonly start: Offset; readonly end: Offset; readonly batchTimestampMs: number }
    | undefined
}

/**
 * The write-ahead-log protocol of a query, in the order the executor calls it for batch N:
 * `writeOffsets(N)` before the batch runs, `writeState(N)` with the state deltas, then the sink commits, then
 * `commit(N)`. Without a checkpoint location every call is a no-op and a restart starts from scratch.
 */
export interface QueryCheckpoint {
  recover(stateful: readonly StatefulExec[]): Promise<RecoveredPosition>
  writeOffsets(batchId: number, start: Offset, end: Offset, watermarkMs: number, batchTimestampMs: number): Promise<void>
  writeState(batchId: number, deltas: readonly { readonly operator: StatefulExec; readonly deltas: PartitionDelta[] }[]): Promise<void>
  commit(batchId: number, nextWatermarkMs: number): Promise<void>
  close(): Promise<void>
}

/** A query without a checkpoint location: state lives in memory only. */
export const noCheckpoint: QueryCheckpoint = {
  async recover() {
    return { nextBatchId: 0, committedOffset: undefined, watermarkMs: 0, pending: undefined }
  },
  async writeOffsets() {},
  async writeState() {},
  async commit() {},
  async close() {},
}
