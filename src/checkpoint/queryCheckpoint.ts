/**
 * checkpoint/ — a query's checkpoint location: its layout (`layout.ts` names every path), the write-ahead-log
 * protocol (`QueryCheckpoint`, `FileCheckpoint`), recovery of state through `state/`, offline reading for tools,
 * and the crash-safe rescale protocol. It takes operator specs and state stores, never executors.
 */
import type { OperatorSpec } from '../plan/plan.js'
import type { PartitionDelta, StateStore } from '../state/stateStore.js'
import type { Offset } from '../util/json.js'

/** A stateful operator as the checkpoint sees it: what the plan declares, and the store holding its state. */
export interface OperatorState {
  readonly spec: OperatorSpec
  readonly store: StateStore
}

/** The state changes of one operator in one batch. */
export interface OperatorDeltas {
  readonly operator: OperatorState
  readonly deltas: PartitionDelta[]
}

/** Where a (re)started query resumes. */
export interface RecoveredPosition {
  /** The batch to run next. */
  readonly nextBatchId: number
  /** The source offset everything up to which is committed, or undefined for a fresh query. */
  readonly committedOffset: Offset | undefined
  readonly watermarkMs: number
  /** Batches whose offsets were logged but which never committed, in order: each re-runs with exactly these offsets. */
  readonly pending: readonly PendingBatch[]
}

/** A batch logged in the write-ahead log but not in the commit log. */
export interface PendingBatch {
  readonly batchId: number
  readonly start: Offset
  readonly end: Offset
  readonly batchTimestampMs: number
  /** The watermark the batch ran with. */
  readonly watermarkMs: number
}

/**
 * The write-ahead-log protocol of a query for batch N: `writeOffsets(N)` is durable before the sink gets any output
 * of batch N; `writeState(N)` may run beside both (a restart deletes state files of batches after the last commit,
 * so they count only once `commits/N` names them); `writeState(N)` is durable and the sink's `addBatch(N)` has
 * completed before `commits/N` appears (`commit(N)` may be called while the state write runs: the file is written
 * after it); commits are written in batch order. State writes and commits may run in the background while
 * batch N+1 computes (so `writeState(N+1)` may start before `commit(N)`: each commit records the state files as of
 * its own batch), and a restart may find several batches pending after the last commit and re-runs them all.
 * Without a checkpoint location every call is a no-op and a restart starts from scratch.
 */
export interface QueryCheckpoint {
  /** Loads each operator's state as of the last commit into its store, and says where the query resumes. */
  recover(operators: readonly OperatorState[]): Promise<RecoveredPosition>
  writeOffsets(batchId: number, start: Offset, end: Offset, watermarkMs: number, batchTimestampMs: number): Promise<void>
  writeState(batchId: number, deltas: readonly OperatorDeltas[]): Promise<void>
  /**
   * Commits batch N once `writeState(N)` has been called and the sink has the batch: checks that the run still holds
   * the checkpoint (fencing), then hands `commits/N` to be written as soon as the state files of N are durable.
   * Resolves once the write is under way, with `durable`, which resolves once `commits/N` is durable; resolves
   * undefined, handing nothing over, when `wanted` (asked right after the lock check) says the batch was given up.
   * @throws CheckpointLockLostError when another run took the checkpoint over; `durable` rejects with the failure
   * of the state files or of the commit file.
   */
  commit(batchId: number, nextWatermarkMs: number, wanted?: () => boolean): Promise<{ readonly durable: Promise<void> } | undefined>
  close(): Promise<void>
}

/** A query without a checkpoint location: state lives in memory only. */
export const noCheckpoint: QueryCheckpoint = {
  async recover() {
    return { nextBatchId: 0, committedOffset: undefined, watermarkMs: 0, pending: [] }
  },
  async writeOffsets() {},
  async writeState() {},
  async commit() {
    return { durable: Promise.resolve() }
  },
  async close() {},
}
