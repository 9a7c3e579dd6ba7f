/**
 * Opening a checkpoint location for a run: its lock, its metadata (written when new), and the {@link FileCheckpoint}
 * that writes it from then on.
 */
import { CURRENT_FORMAT_VERSION, readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import type { CheckpointFs } from '../durable/fs.js'
import { acquireCheckpointLock } from '../durable/lock.js'
import { CheckpointCorruptedError, IncompatibleCheckpointError } from '../errors.js'
import type { PlanFingerprint } from '../plan/fingerprint.js'
import { FileCheckpoint, type RetentionOptions } from './fileCheckpoint.js'
import { checkpointLayout } from './layout.js'
import { CheckpointMetadata } from './logs.js'

/** An opened checkpoint location: its metadata, logs and lock. */
export interface OpenedCheckpoint {
  readonly metadata: CheckpointMetadata
  readonly isNew: boolean
  readonly checkpoint: FileCheckpoint
}

/**
 * Opens (or creates) a checkpoint location: takes the lock (or `takeLock`'s, a lease in a cluster), reads or writes `metadata`.
 * @throws ConcurrentQueryError when another running query holds the lock; CheckpointCorruptedError /
 * CheckpointVersionError for a bad metadata file.
 */
export async function openCheckpoint(
  fs: CheckpointFs,
  location: string,
  fresh: { id: string; fingerprint: PlanFingerprint },
  owner: { runId: string; queryName?: string },
  retention: RetentionOptions,
  takeLock: typeof acquireCheckpointLock = acquireCheckpointLock,
): Promise<OpenedCheckpoint> {
  const layout = checkpointLayout(location)
  const lock = await takeLock(fs, location, owner)
  try {
    // Litter of atomic writes that a crash interrupted: invisible to readers, but it would pile up over the years.
    await fs.sweepTempFiles?.(location)
    if (await fs.exists(layout.rescaleMarker)) {
      throw new IncompatibleCheckpointError(location, [
        "an interrupted 'structured-rx rescale' left its marker file 'rescale' in the checkpoint: finish it with " +
          `'structured-rx rescale ${location} --partitions N' (N: see 'structured-rx inspect ${location}') before starting the query`,
      ])
    }
    const metadataPath = layout.metadata
    let metadata: CheckpointMetadata
    let isNew = false
    if (await fs.exists(metadataPath)) {
      metadata = await readCheckpointJson(fs, metadataPath, CheckpointMetadata)
    } else {
      for (const log of [layout.offsets, layout.commits]) {
        if ((await fs.readdir(log)).length > 0) {
          throw new CheckpointCorruptedError(
            metadataPath,
            `missing, while ${log} holds batches: the query's id and plan are lost with it; restore it from a backup, ` +
              'or start the query on a new checkpoint location',
          )
        }
      }
      isNew = true
      metadata = {
        id: fresh.id,
        formatVersion: CURRENT_FORMAT_VERSION,
        shufflePartitions: fresh.fingerprint.shufflePartitions,
        createdAt: new Date().toISOString(),
        fingerprint: fresh.fingerprint,
      }
      await writeCheckpointJson(fs, metadataPath, CheckpointMetadata.encode(metadata))
    }
    // Under the lock the run owns the checkpoint's directories: its writes may keep them open until close(), and
    // go to the writer thread.
    return { metadata, isNew, checkpoint: new FileCheckpoint(fs.withWriterThread?.() ?? fs.withOpenDirectories?.() ?? fs, location, metadata, lock, retention) }
  } catch (e) {
    await lock.release().catch(() => undefined)
    throw e
  }
}
