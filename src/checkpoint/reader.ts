/**
 * Reads a checkpoint offline, without the query that wrote it: metadata, the offset and commit logs, and each
 * operator's state in its codec-encoded (JSON) form. No user codec is needed: keys are identified by their encoded
 * form, exactly as the running query identifies them, so state can be counted, shown and redistributed.
 */
import { BatchLog } from '../durable/batchLog.js'
import { readCheckpointJson } from '../durable/format.js'
import { type CheckpointFs, errorCode } from '../durable/fs.js'
import { CheckpointMetadata, CommitLogEntry, OffsetLogEntry } from './logs.js'
import { CheckpointCorruptedError, CliError } from '../errors.js'
import type { OperatorFingerprint } from '../plan/fingerprint.js'
import { PatchedKey, readStateEntry, RemovedKey, resolvePatch } from '../state/stateEntries.js'
import { operatorStateFiles } from '../state/stateFiles.js'
import type { EncodedEntry } from '../state/stateStore.js'
import { keyIdOf, windowedId } from '../util/keys.js'
import { checkpointLayout } from './layout.js'

/** Where the logs of a checkpoint stand. */
export interface CheckpointSummary {
  readonly location: string
  readonly metadata: CheckpointMetadata
  /** The highest committed batchId, or undefined before the first commit. */
  readonly lastCommitted: number | undefined
  /** batchIds of the commit files still retained, ascending. */
  readonly commits: readonly number[]
  /** batchIds of the offset files still retained, ascending. */
  readonly offsets: readonly number[]
  /** batchIds whose offsets are logged but which never committed (a restart re-runs them). */
  readonly pending: readonly number[]
  /** The write-ahead-log entry with the highest batchId. */
  readonly lastOffsets: OffsetLogEntry | undefined
}

/**
 * Reads the metadata and logs of the checkpoint at `location`.
 * @example const { metadata, lastCommitted, pending } = await readCheckpointSummary(nodeFs, '/ckpt')
 * @throws CliError when `location` is not a checkpoint; CheckpointCorruptedError / CheckpointVersionError for a bad file.
 */
export async function readCheckpointSummary(fs: CheckpointFs, location: string): Promise<CheckpointSummary> {
  await requireCheckpoint(fs, location)
  const layout = checkpointLayout(location)
  const metadata = await readCheckpointJson(fs, layout.metadata, CheckpointMetadata)
  const offsetLog = new BatchLog(fs, layout.offsets, OffsetLogEntry)
  const commitLog = new BatchLog(fs, layout.commits, CommitLogEntry)
  const offsets = await offsetLog.batchIds()
  const commits = await commitLog.batchIds()
  const committed = new Set(commits)
  return {
    location,
    metadata,
    lastCommitted: commits.length === 0 ? undefined : commits[commits.length - 1],
    commits,
    offsets,
    pending: offsets.filter((id) => !committed.has(id)),
    lastOffsets: (await offsetLog.latest())?.value,
  }
}

/**
 * Checks that `location` is a checkpoint directory before anything is read or locked there.
 * @example await requireCheckpoint(nodeFs, '/ckpt')
 * @throws CliError when it does not exist, is not a directory or has no `metadata` file.
 */
export async function requireCheckpoint(fs: CheckpointFs, location: string): Promise<void> {
  if (!(await fs.exists(location))) throw new CliError(`${location} does not exist`)
  try {
    await fs.readdir(location)
  } catch (error) {
    if (errorCode(error) === 'ENOTDIR') throw new CliError(`${location} is not a directory`)
    throw error
  }
  if (!(await fs.exists(checkpointLayout(location).metadata))) {
    throw new CliError(`${location} is not a checkpoint: it has no metadata file`)
  }
}

/** One state file read while loading an operator's state. */
export interface StateFileRead {
  readonly name: string
  readonly bytes: number
  readonly stateVersion: number
}

/** A partition's state at one batch: encoded entries by key id, and how many files held entries of it. */
export interface PartitionState {
  readonly partition: number
  readonly entries: Map<string, EncodedEntry>
  readonly files: number
}

/** An operator's state at one batch: its partitions, and the files read (each file once). */
export interface EncodedOperatorState {
  readonly partitions: readonly PartitionState[]
  readonly files: readonly StateFileRead[]
  /** Total size of `files`. */
  readonly bytes: number
}

/**
 * The id the running query gives an encoded entry: `keyIdOf(k)`, within its window when it has one. Its
 * partition is `partitionOf(id, shufflePartitions)`.
 * @example entryId({ k: 'walk', s: 3 }) // 'walk'
 * @throws never.
 */
export function entryId(entry: Pick<EncodedEntry, 'k' | 'w'>): string {
  const keyId = keyIdOf(entry.k)
  return entry.w === undefined ? keyId : windowedId(keyId, { start: entry.w[0], end: entry.w[1] })
}

/**
 * Loads one operator's encoded state as of batch `version` in each of `partitions` partitions, the way a restart
 * does (the latest snapshot ≤ version, then the deltas after it), without decoding keys or states; `formatVersion`
 * (the checkpoint's, from `metadata`) says which layout the state files follow.
 * @example const { partitions } = await loadEncodedState(nodeFs, '/ckpt', 'count', 7, 8, 2)
 * Patch lines are applied, so every entry holds its whole encoded state.
 * @throws CheckpointCorruptedError naming the file when a file fails its checksum, a line is not a state entry or a
 * patch does not apply.
 */
export async function loadEncodedState(
  fs: CheckpointFs,
  location: string,
  operator: string,
  version: number | undefined,
  partitions: number,
  formatVersion: number,
): Promise<EncodedOperatorState> {
  const stateFiles = operatorStateFiles(fs, checkpointLayout(location).state(operator), { formatVersion, partitions, stateVersion: 0 })
  const entries = Array.from({ length: partitions }, () => new Map<string, EncodedEntry>())
  const fileSets = Array.from({ length: partitions }, () => new Set<string>())
  const read: StateFileRead[] = []
  if (version !== undefined) {
    await stateFiles.replay(version, (file) => {
      read.push({ name: file.name, bytes: file.bytes, stateVersion: file.stateVersion })
      const inSnapshot = file.kind === 'snapshot'
      const patchLines = !inSnapshot && file.formatVersion >= 2
      return (line, lineNo, p) => {
        fileSets[p]!.add(file.path)
        const change = readStateEntry(line, inSnapshot, patchLines)
        if (change === undefined) throw new CheckpointCorruptedError(file.path, `line ${lineNo} is not a state entry`)
        const id = entryId(change)
        if (change instanceof RemovedKey) {
          entries[p]!.delete(id)
        } else if (change instanceof PatchedKey) {
          // Patches resolve to the whole value here, so inspect, state and rescale only ever see whole values.
          const previous = entries[p]!.get(id)
          const s = resolvePatch(file.path, lineNo, previous?.s, previous !== undefined, change)
          const { k, w, t } = change
          entries[p]!.set(id, { k, ...(w ? { w } : {}), s, ...(t !== undefined ? { t } : {}) })
        } else {
          entries[p]!.set(id, change)
        }
      }
    })
  }
  return {
    partitions: entries.map((e, partition) => ({ partition, entries: e, files: fileSets[partition]!.size })),
    files: read,
    bytes: read.reduce((sum, f) => sum + f.bytes, 0),
  }
}

/**
 * The operator recorded in the fingerprint under `name`.
 * @example const op = operatorNamed(metadata.fingerprint.statefulOperators, 'count')
 * @throws CliError listing the known operators when there is none of that name.
 */
export function operatorNamed(operators: readonly OperatorFingerprint[], name: string): OperatorFingerprint {
  const found = operators.find((op) => op.name === name)
  if (found !== undefined) return found
  throw new CliError(
    operators.length === 0
      ? `unknown operator '${name}': this checkpoint has no stateful operators`
      : `unknown operator '${name}'; known operators: ${operators.map((op) => op.name).join(', ')}`,
  )
}
