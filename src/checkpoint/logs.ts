import * as t from 'io-ts'
import { PlanFingerprint } from '../plan/fingerprint.js'

/** Any JSON value (a source's offsets), as long as the field is there. */
const present = (u: unknown): u is unknown => u !== undefined
const Json: t.Type<unknown, unknown, unknown> = new t.Type<unknown, unknown, unknown>(
  'JSON',
  present,
  (u, c) => (present(u) ? t.success(u) : t.failure(u, c, 'missing')),
  (a) => a,
)

/** `metadata`: the query's identity and the plan that wrote the checkpoint. */
export const CheckpointMetadata = t.type({
  id: t.string,
  formatVersion: t.number,
  shufflePartitions: t.number,
  createdAt: t.string,
  fingerprint: PlanFingerprint,
})
export type CheckpointMetadata = t.TypeOf<typeof CheckpointMetadata>

/** `offsets/<batchId>`: the write-ahead log entry of a batch, written before it runs. */
export const OffsetLogEntry = t.type({
  batchId: t.number,
  start: Json,
  end: Json,
  /** The watermark the batch runs with. */
  watermarkMs: t.number,
  /** The batch's processing time, reused when the batch re-runs so processing-time timeouts replay the same. */
  batchTimestampMs: t.number,
  shufflePartitions: t.number,
})
export type OffsetLogEntry = t.TypeOf<typeof OffsetLogEntry>

/** The state files a partition's state is restored from: a snapshot (or none) and the deltas after it, by batch. */
export const PartitionStateFiles = t.type({ snapshot: t.union([t.number, t.null]), deltas: t.array(t.number) })
export type PartitionStateFiles = t.TypeOf<typeof PartitionStateFiles>

/** `commits/<batchId>`: written after the sink committed the batch. */
export const CommitLogEntry = t.intersection([
  t.type({
    /** The watermark for the next batch. */
    nextWatermarkMs: t.number,
  }),
  t.partial({
    /**
     * Per stateful operator and partition, the files its state as of this batch is restored from, so a restore can
     * tell a file that is missing from one that was never written (commits of older versions lack it).
     */
    state: t.record(t.string, t.array(PartitionStateFiles)),
    /** The epoch of the lock (or, in a cluster, the task's lease) the batch was committed under. */
    epoch: t.number,
  }),
])
export type CommitLogEntry = t.TypeOf<typeof CommitLogEntry>
