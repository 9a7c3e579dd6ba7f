/**
 * Which state files a restore needs: the checkpoint records, with every commit, the snapshot and deltas each
 * partition's state is restored from, so a restore can tell a deleted file from one that was never written (only
 * partitions whose keys changed get a delta).
 */
import { join } from 'node:path'
import { CheckpointCorruptedError } from '../errors.js'
import type { PartitionDelta } from './stateStore.js'

/** The files one partition's state is restored from: a snapshot (or none) and the deltas after it, by batch id. */
export interface PartitionStateFiles {
  snapshot: number | null
  deltas: number[]
}

/** The needed files of one operator's partitions, kept up to date as batches write state. */
export class StateManifest {
  private constructor(private readonly partitions: PartitionStateFiles[]) {}

  /** From a commit's record, or empty (nothing needed) for a fresh query or an older commit without one. */
  static of(recorded: readonly PartitionStateFiles[] | undefined, partitions: number): StateManifest {
    const fresh = () => ({ snapshot: null, deltas: [] as number[] })
    const usable = recorded !== undefined && recorded.length === partitions
    return new StateManifest(Array.from({ length: partitions }, (_, p) => (usable ? { ...recorded[p]!, deltas: [...recorded[p]!.deltas] } : fresh())))
  }

  /** Batch `batchId` wrote a snapshot of every partition, or deltas of the partitions that changed. */
  wrote(batchId: number, snapshot: boolean, deltas: readonly PartitionDelta[]): void {
    if (snapshot) {
      for (const p of this.partitions) {
        p.snapshot = batchId
        p.deltas = []
      }
      return
    }
    for (const d of deltas) this.partitions[d.partition]?.deltas.push(batchId)
  }

  /** The record for the commit log. */
  toRecord(): PartitionStateFiles[] {
    return this.partitions.map((p) => ({ snapshot: p.snapshot, deltas: [...p.deltas] }))
  }

  /**
   * Checks that the files of partition `p` on disk (by batch, as `<batchId>.<kind>`) hold every needed one. A later
   * snapshot on disk (written by `rescale`) covers everything before it.
   * @throws CheckpointCorruptedError naming the first missing file.
   */
  check(p: number, partitionDir: string, present: readonly { batchId: number; kind: 'delta' | 'snapshot' }[]): void {
    const needed = this.partitions[p]
    if (needed === undefined) return
    const has = (batchId: number, kind: string) => present.some((f) => f.batchId === batchId && f.kind === kind)
    const base = present.filter((f) => f.kind === 'snapshot').map((f) => f.batchId)
    const latestSnapshot = base.length > 0 ? Math.max(...base) : -1
    const missing: string[] = []
    if (needed.snapshot !== null && needed.snapshot > latestSnapshot) missing.push(`${needed.snapshot}.snapshot`)
    for (const d of needed.deltas) if (d > latestSnapshot && !has(d, 'delta')) missing.push(`${d}.delta`)
    if (missing.length > 0) {
      throw new CheckpointCorruptedError(
        join(partitionDir, missing[0]!),
        `the state of the last committed batch needs ${missing.map((m) => join(partitionDir, m)).join(', ')}, which ` +
          'do not exist (deleted or lost in a copy): restore them from a backup, or start the query on a new checkpoint',
      )
    }
  }
}
