import { BatchLog } from '../durable/batchLog.js'
import { CURRENT_FORMAT_VERSION, writeCheckpointJson } from '../durable/format.js'
import { type CheckpointFs, settledAll } from '../durable/fs.js'
import type { CheckpointLock } from '../durable/lock.js'
import { CheckpointCorruptedError } from '../errors.js'
import type { PlanFingerprint } from '../plan/fingerprint.js'
import { stateDecoders } from '../state/migrations.js'
import { loadState, type OperatorStateFiles, operatorStateFiles } from '../state/stateFiles.js'
import { StateManifest } from '../state/stateManifest.js'
import { removeV1PartitionDirs } from '../state/stateFilesV1.js'
import type { Offset } from '../util/json.js'
import { stableStringify } from '../util/keys.js'
import { type CheckpointLayout, checkpointLayout } from './layout.js'
import { CheckpointMetadata, CommitLogEntry, OffsetLogEntry } from './logs.js'
import type { OperatorDeltas, OperatorState, PendingBatch, QueryCheckpoint, RecoveredPosition } from './queryCheckpoint.js'

const MAX_PENDING = 2

/** Settings of a checkpoint's retention. */
export interface RetentionOptions {
  readonly snapshotInterval: number
  readonly minBatchesToRetain: number
}

/** The write-ahead-log protocol of {@link QueryCheckpoint} on a real (or fault-injecting) file system. */
export class FileCheckpoint implements QueryCheckpoint {
  readonly offsets: BatchLog<OffsetLogEntry>
  readonly commits: BatchLog<CommitLogEntry>
  private operators: readonly OperatorState[] = []
  /** Per stateful operator, the state files a restore of the last written batch needs. */
  private readonly manifests = new Map<string, StateManifest>()
  /** The state part of the commit of each batch whose state was written but which has not committed yet. */
  private readonly stateRecords = new Map<number, CommitLogEntry['state']>()
  /** The state file writes of each batch that has not committed yet: its commit file follows them. */
  private readonly stateWrites = new Map<number, Promise<void>[]>()
  /** Commit files handed to the file system and not yet settled. */
  private readonly commitsInFlight = new Set<Promise<void>>()
  private readonly layout: CheckpointLayout
  private planFingerprint: PlanFingerprint | undefined
  private fingerprintChanged = false
  private metadata: CheckpointMetadata

  constructor(
    private readonly fs: CheckpointFs & { close?(): Promise<void> },
    readonly location: string,
    metadata: CheckpointMetadata,
    private readonly lock: CheckpointLock,
    private readonly retention: RetentionOptions,
  ) {
    this.metadata = metadata
    this.layout = checkpointLayout(location)
    this.offsets = new BatchLog(fs, this.layout.offsets, OffsetLogEntry)
    this.commits = new BatchLog(fs, this.layout.commits, CommitLogEntry)
  }

  private stateFiles(op: OperatorState, formatVersion: number = this.metadata.formatVersion): OperatorStateFiles {
    return operatorStateFiles(this.fs, this.layout.state(op.spec.name), {
      formatVersion,
      partitions: this.metadata.shufflePartitions,
      stateVersion: op.spec.version,
    })
  }

  /**
   * The fingerprint of the query now running. When it differs from the recorded one (a migrated state version, a
   * new output mode…), the next batch writes full snapshots, so no later restore needs files of the old plan, and
   * its commit records the new fingerprint.
   */
  setPlanFingerprint(fingerprint: PlanFingerprint): void {
    this.planFingerprint = fingerprint
    this.fingerprintChanged = stableStringify(fingerprint) !== stableStringify(this.metadata.fingerprint)
  }

  /** Updates the fingerprint in `metadata` once the new plan has committed a batch (e.g. a migrated state version). */
  async recordFingerprint(fingerprint: PlanFingerprint): Promise<void> {
    this.metadata = { ...this.metadata, fingerprint }
    await writeCheckpointJson(this.fs, this.layout.metadata, CheckpointMetadata.encode(this.metadata))
  }

  /**
   * Where the query resumes: after the last batch in the commit log, re-running every batch logged in `offsets/`
   * after it with exactly its logged offsets, watermark and timestamp (the commit log is written asynchronously, so
   * more than one batch may be pending). State is loaded as of the last committed batch; state files of later,
   * uncommitted attempts are removed first.
   * @throws CheckpointCorruptedError when a pending batch's offsets entry is missing or the commit log is ahead of it.
   */
  async recover(operators: readonly OperatorState[]): Promise<RecoveredPosition> {
    this.operators = operators
    const lastOffsets = await this.offsets.latest()
    if (lastOffsets === undefined) {
      return { nextBatchId: 0, committedOffset: undefined, watermarkMs: 0, pending: [] }
    }
    const lastCommit = await this.commits.latest()
    const committedId = lastCommit?.batchId ?? -1
    if (committedId > lastOffsets.batchId) {
      throw new CheckpointCorruptedError(this.commits.pathOf(committedId), `batch ${committedId} is committed but offsets/ ends at batch ${lastOffsets.batchId}`)
    }
    // Offsets of batch N+2 are written only once batch N has committed, so at most two batches are ever pending.
    if (lastOffsets.batchId - committedId > MAX_PENDING) {
      const missing = committedId < 0 ? 'it has none' : `it ends at batch ${committedId}`
      throw new CheckpointCorruptedError(
        this.commits.pathOf(lastOffsets.batchId - MAX_PENDING),
        `offsets/ ends at batch ${lastOffsets.batchId} but the commit log is missing entries (${missing}): ` +
          'restore commits/ from a backup, or start the query on a new checkpoint location',
      )
    }
    const pending: PendingBatch[] = []
    for (let id = committedId + 1; id <= lastOffsets.batchId; id++) {
      const entry = id === lastOffsets.batchId ? lastOffsets.value : await this.offsets.get(id)
      if (entry === undefined) {
        throw new CheckpointCorruptedError(this.offsets.pathOf(id), `offsets of pending batch ${id} are missing (the log continues at batch ${lastOffsets.batchId})`)
      }
      pending.push({ batchId: id, start: entry.start as Offset, end: entry.end as Offset, batchTimestampMs: entry.batchTimestampMs, watermarkMs: entry.watermarkMs })
    }
    // Without pending batches the log's latest entry is the committed batch's, so it is always there; with pending
    // ones, retention may have removed it, and the first pending batch's start is where the committed one ended.
    const committedEntry = committedId >= 0 ? await this.offsets.get(committedId) : undefined
    const position: RecoveredPosition = {
      nextBatchId: committedId + 1,
      committedOffset: (committedEntry?.end ?? pending[0]?.start) as Offset | undefined,
      watermarkMs: lastCommit?.value.nextWatermarkMs ?? pending[0]?.watermarkMs ?? 0,
      pending,
    }
    const stateVersion = committedId
    const recorded = this.metadata.fingerprint.statefulOperators
    const partitions = this.metadata.shufflePartitions
    for (const op of operators) {
      const before = recorded.find((r) => r.name === op.spec.name)
      const files = this.stateFiles(op)
      await files.removeAfter(stateVersion)
      const manifest = StateManifest.of(lastCommit?.value.state?.[op.spec.name], partitions)
      for (let p = 0; p < partitions; p++) {
        const { dir, files: present } = await files.filesOf(p)
        manifest.check(p, dir, present)
      }
      this.manifests.set(op.spec.name, manifest)
      await loadState(files, op.store, stateVersion, stateDecoders(op.spec, this.location), (before?.window ?? null) !== null, op.spec.version)
    }
    if (this.metadata.formatVersion < CURRENT_FORMAT_VERSION) await this.upgradeFormat(operators, stateVersion)
    else await removeV1PartitionDirs(this.fs, operators.map((op) => this.layout.state(op.spec.name)))
    return position
  }

  /**
   * Rewrites a checkpoint of an older format in the current one, in place, from the state just loaded: first a
   * snapshot of every operator as of the committed batch in the current layout, then `metadata` with the new format
   * version (the switch: before it, restarts read the old layout and ignore the new files; after it, the new
   * layout), then the old layout's files go. A crash at any step leaves a checkpoint that restores.
   */
  private async upgradeFormat(operators: readonly OperatorState[], committedId: number): Promise<void> {
    if (committedId >= 0) {
      for (const op of operators) {
        await this.stateFiles(op, CURRENT_FORMAT_VERSION).writeSnapshot(committedId, op.store.encodeAll())
        this.manifestOf(op).wrote(committedId, true, [])
      }
    }
    this.metadata = { ...this.metadata, formatVersion: CURRENT_FORMAT_VERSION }
    await writeCheckpointJson(this.fs, this.layout.metadata, CheckpointMetadata.encode(this.metadata))
    await removeV1PartitionDirs(this.fs, operators.map((op) => this.layout.state(op.spec.name)))
  }

  async writeOffsets(batchId: number, start: Offset, end: Offset, watermarkMs: number, batchTimestampMs: number): Promise<void> {
    await this.offsets.add(batchId, {
      batchId,
      start,
      end,
      watermarkMs,
      batchTimestampMs,
      shufflePartitions: this.metadata.shufflePartitions,
    })
  }

  async writeState(
    batchId: number,
    deltas: readonly OperatorDeltas[],
  ): Promise<void> {
    // Everything is encoded before the first await: the caller lets the next batch mutate state while these writes run.
    const snapshot = this.fingerprintChanged || (batchId > 0 && batchId % this.retention.snapshotInterval === 0)
    const writes: Promise<void>[] = []
    // Recorded first: a commit of this batch must follow these writes, and fail with them if encoding one failed.
    this.stateWrites.set(batchId, writes)
    try {
      for (const { operator, deltas: parts } of deltas) {
        const files = this.stateFiles(operator)
        this.manifestOf(operator).wrote(batchId, snapshot, parts)
        writes.push(snapshot ? files.writeSnapshot(batchId, operator.store.encodeAll()) : files.writeDelta(batchId, parts))
      }
    } catch (error) {
      const failed = Promise.reject(error)
      failed.catch(() => undefined)
      writes.push(failed)
    }
    // The next batch's state may be written before this batch commits: its commit records the files as of now.
    this.stateRecords.set(batchId, this.stateRecord())
    await settledAll(writes)
  }

  /** Per stateful operator, the state files a restore as of the last batch whose state was written needs. */
  private stateRecord(): CommitLogEntry['state'] {
    const state: Record<string, ReturnType<StateManifest['toRecord']>> = {}
    for (const op of this.operators) state[op.spec.name] = this.manifestOf(op).toRecord()
    return state
  }

  async commit(batchId: number, nextWatermarkMs: number, wanted: () => boolean = () => true): Promise<{ readonly durable: Promise<void> } | undefined> {
    // A run fenced off by a later holder of the lock must not commit: the new holder re-runs this batch.
    await this.lock.assertHeld()
    if (!wanted()) return undefined
    const state = this.stateRecords.get(batchId) ?? this.stateRecord()
    const stateWrites = this.stateWrites.get(batchId) ?? []
    for (const id of this.stateRecords.keys()) if (id <= batchId) this.stateRecords.delete(id)
    for (const id of this.stateWrites.keys()) if (id <= batchId) this.stateWrites.delete(id)
    // Handed to the file system now, to appear once the state files are durable: on a writer thread that happens
    // while this thread computes the next batch.
    const written = this.commits.add(batchId, { nextWatermarkMs, state, epoch: this.lock.epoch }, stateWrites)
    this.commitsInFlight.add(written)
    void written.catch(() => undefined).finally(() => this.commitsInFlight.delete(written))
    const durable = (async () => {
      await written
      if (this.fingerprintChanged && this.planFingerprint !== undefined) {
        await this.recordFingerprint(this.planFingerprint)
        this.fingerprintChanged = false
      }
      if (batchId % this.retention.snapshotInterval === 0) await this.purge(batchId)
    })()
    durable.catch(() => undefined)
    return { durable }
  }

  /** Keeps the last `minBatchesToRetain` batches recoverable; older logs and state files go. */
  private async purge(batchId: number): Promise<void> {
    const minVersion = batchId - this.retention.minBatchesToRetain + 1
    if (minVersion <= 0) return
    for (const op of this.operators) await this.stateFiles(op).purge(minVersion)
    await this.offsets.purgeBefore(minVersion)
    await this.commits.purgeBefore(minVersion)
  }

  private manifestOf(op: OperatorState): StateManifest {
    let manifest = this.manifests.get(op.spec.name)
    if (manifest === undefined) {
      manifest = StateManifest.of(undefined, this.metadata.shufflePartitions)
      this.manifests.set(op.spec.name, manifest)
    }
    return manifest
  }

  async close(): Promise<void> {
    // A commit handed over before a stop must not land once the lock is given up.
    await Promise.allSettled([...this.commitsInFlight])
    await this.fs.close?.().catch(() => undefined)
    await this.lock.release()
  }
}
