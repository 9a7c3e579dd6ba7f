/**
 * The rescale protocol: redistributes every stateful operator's state over N shuffle partitions, offline,
 * crash-safely. The new layout is written beside the old one, a marker file records the
 * intent, then directories are swapped by renames; an interrupted rescale is finished by running it again.
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import * as t from 'io-ts'
import { CURRENT_FORMAT_VERSION, readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import { type CheckpointFs, errorCode, nodeFs } from '../durable/fs.js'
import { acquireCheckpointLock } from '../durable/lock.js'
import { CliError } from '../errors.js'
import { operatorStateFiles } from '../state/stateFiles.js'
import type { EncodedEntry } from '../state/stateStore.js'
import { partitionOf } from '../util/keys.js'
import { checkpointLayout, RESCALE_WORK_DIR } from './layout.js'
import { CheckpointMetadata } from './logs.js'
import { loadEncodedState, readCheckpointSummary, requireCheckpoint } from './reader.js'

/** `<checkpoint>/rescale`: written once the new layout is complete, removed once the rescale is finished. */
export const RescaleMarker = t.type({
  from: t.number,
  to: t.number,
  /** The batch whose state was redistributed, or null for a checkpoint without a committed batch. */
  batchId: t.union([t.number, t.null]),
  operators: t.array(t.string),
})
/** The decoded marker of a rescale in progress. */
export type RescaleMarker = t.TypeOf<typeof RescaleMarker>

/** How a finished rescale moved state. */
export interface RescaleReport {
  readonly from: number
  readonly to: number
  readonly batchId: number | null
  /** The marker of an interrupted rescale that was finished first. */
  readonly resumed: RescaleMarker | undefined
  readonly operators: readonly { readonly name: string; readonly rows: number; readonly rowsPerPartition: readonly number[] }[]
}

/**
 * Rescales the checkpoint at `location` to `partitions` shuffle partitions: locks it, finishes an interrupted
 * rescale if its marker is there, then {@link prepareRescale} and {@link finishRescale}.
 * @example await rescaleCheckpoint('/ckpt', 16)
 * @throws ConcurrentQueryError when a running query holds the checkpoint; CliError for a pending batch, state files
 * of mixed state versions or a location that is not a checkpoint; CheckpointCorruptedError for a damaged file.
 */
export async function rescaleCheckpoint(
  location: string,
  partitions: number,
  options: { fs?: CheckpointFs; log?: (line: string) => void } = {},
): Promise<RescaleReport> {
  const fs = options.fs ?? nodeFs
  const log = options.log ?? (() => undefined)
  await requireCheckpoint(fs, location)
  const lock = await acquireCheckpointLock(fs, location, { runId: `rescale-${randomUUID()}`, queryName: 'structured-rx rescale' })
  try {
    const resumed = await readRescaleMarker(fs, location)
    if (resumed !== undefined) {
      log(`finishing an interrupted rescale from ${resumed.from} to ${resumed.to} partitions`)
      await finishRescale(fs, location, resumed, log)
    }
    const { metadata } = await readCheckpointSummary(fs, location)
    if (metadata.shufflePartitions === partitions) {
      if (resumed?.to !== partitions) log(`${location} has ${partitions} shuffle partitions; nothing to do`)
      return { from: partitions, to: partitions, batchId: null, resumed, operators: [] }
    }
    const prepared = await prepareRescale(fs, location, partitions, log)
    await finishRescale(fs, location, prepared.marker, log)
    return { ...prepared.marker, resumed, operators: prepared.operators }
  } finally {
    await lock.release()
  }
}

/**
 * The first half of a rescale, run under the lock: loads each operator's encoded state at the last committed batch, writes
 * it redistributed by `partitionOf(id, to)` as `state/<op>.rescale-<to>/<p>/<batchId>.snapshot`, then the marker.
 * Until the marker exists the old layout is untouched and the new directories are litter the next attempt removes.
 * @example const { marker } = await prepareRescale(nodeFs, '/ckpt', 16, console.log)
 * @throws CliError for a pending batch, mixed state versions or clashing operator names; checkpoint errors.
 */
export async function prepareRescale(
  fs: CheckpointFs,
  location: string,
  to: number,
  log: (line: string) => void = () => undefined,
): Promise<{ marker: RescaleMarker; operators: RescaleReport['operators'] }> {
  const summary = await readCheckpointSummary(fs, location)
  const from = summary.metadata.shufflePartitions
  const pending = summary.pending[summary.pending.length - 1]
  if (pending !== undefined) {
    throw new CliError(
      `batch ${pending} is pending (its offsets are logged but it never committed): ` +
        `start the query once so batch ${pending} commits, then rescale`,
    )
  }
  const names = summary.metadata.fingerprint.statefulOperators.map((op) => op.name)
  checkNoClash(names)
  const batchId = summary.lastCommitted
  log(`rescaling ${location} from ${from} to ${to} partitions at batch ${batchId ?? '(none committed)'}`)
  // Everything is loaded and checked before anything is written, so a refusal leaves no trace.
  const loaded: { name: string; stateVersion: number; buckets: EncodedEntry[][] }[] = []
  for (const op of summary.metadata.fingerprint.statefulOperators) {
    const state = await loadEncodedState(fs, location, op.name, batchId, from, summary.metadata.formatVersion)
    const versions = [...new Set(state.files.map((f) => f.stateVersion))].sort((a, b) => a - b)
    if (versions.length > 1) {
      throw new CliError(
        `operator '${op.name}': its state files carry state versions ${versions.join(' and ')}; ` +
          'run the query once so its migrated state is snapshotted, then rescale',
      )
    }
    const buckets: EncodedEntry[][] = Array.from({ length: to }, () => [])
    const all = state.partitions.flatMap((p) => [...p.entries])
    all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    for (const [id, entry] of all) buckets[partitionOf(id, to)]!.push(entry)
    loaded.push({ name: op.name, stateVersion: versions[0] ?? op.version, buckets })
  }
  const operators: { name: string; rows: number; rowsPerPartition: number[] }[] = []
  for (const { name, stateVersion, buckets } of loaded) {
    await removeLitter(fs, location, name)
    const dir = checkpointLayout(location).rescaledState(name, to)
    await fs.mkdirp(dir)
    if (batchId !== undefined) {
      // Written in the current format whatever the checkpoint's: finishing the rescale records it in `metadata`.
      const files = operatorStateFiles(fs, dir, { formatVersion: CURRENT_FORMAT_VERSION, partitions: to, stateVersion })
      await files.writeSnapshot(batchId, buckets)
    }
    const rowsPerPartition = buckets.map((b) => b.length)
    const rows = rowsPerPartition.reduce((a, b) => a + b, 0)
    operators.push({ name, rows, rowsPerPartition })
    log(`  ${name}: ${rows} rows → ${to} partitions [${rowsPerPartition.join(' ')}], written to state/${name}.rescale-${to}`)
  }
  const marker: RescaleMarker = { from, to, batchId: batchId ?? null, operators: names }
  await writeCheckpointJson(fs, checkpointLayout(location).rescaleMarker, RescaleMarker.encode(marker))
  return { marker, operators }
}

/**
 * The second half of a rescale, idempotent so an interrupted run can be repeated: swaps each operator's directory
 * (`state/<op>` → `state/<op>.old`, `state/<op>.rescale-<to>` → `state/<op>`, each rename fsynced), records the
 * partition count in `metadata`, removes the old directories, then the marker.
 * @example await finishRescale(nodeFs, '/ckpt', marker, console.log)
 * @throws the file-system errors of the renames and writes; CheckpointCorruptedError for a damaged metadata file.
 */
export async function finishRescale(
  fs: CheckpointFs,
  location: string,
  marker: RescaleMarker,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  const layout = checkpointLayout(location)
  for (const name of marker.operators) {
    const current = layout.state(name)
    const next = layout.rescaledState(name, marker.to)
    const old = layout.replacedState(name)
    // Once the new directory is gone, this operator's swap is done.
    if (!(await fs.exists(next))) continue
    if (await fs.exists(current)) {
      // Only reachable by an `.old` no finished rescale could leave: the new layout is not in place yet, so
      // `current` is the live state and anything at `old` is stale.
      await fs.remove(old)
      await fs.renameDurable(current, old)
    }
    await fs.renameDurable(next, current)
    log(`  swapped state/${name}`)
  }
  const metadataPath = layout.metadata
  const metadata = await readCheckpointJson(fs, metadataPath, CheckpointMetadata)
  // Written even when an interrupted attempt already did: the same content again, in one atomic write.
  const updated: CheckpointMetadata = {
    ...metadata,
    formatVersion: CURRENT_FORMAT_VERSION,
    shufflePartitions: marker.to,
    fingerprint: { ...metadata.fingerprint, shufflePartitions: marker.to },
  }
  await writeCheckpointJson(fs, metadataPath, CheckpointMetadata.encode(updated))
  for (const name of marker.operators) await fs.remove(layout.replacedState(name))
  await fs.remove(layout.rescaleMarker)
  log(`done: ${location} now has ${marker.to} shuffle partitions`)
}

/**
 * The marker of an unfinished rescale, or undefined when there is none.
 * @example const marker = await readRescaleMarker(nodeFs, '/ckpt')
 * @throws CheckpointCorruptedError for a damaged marker; other file-system errors.
 */
export async function readRescaleMarker(fs: CheckpointFs, location: string): Promise<RescaleMarker | undefined> {
  try {
    return await readCheckpointJson(fs, checkpointLayout(location).rescaleMarker, RescaleMarker)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  }
}

/** Operator names may contain '.': refuse when one would be mistaken for another's work directory. */
function checkNoClash(names: readonly string[]): void {
  for (const name of names) {
    const owner = RESCALE_WORK_DIR.exec(name)?.[1]
    if (owner !== undefined && names.includes(owner)) {
      throw new CliError(
        `operator '${name}' has the name of a rescale work directory of operator '${owner}'; ` +
          'rescale cannot run on this checkpoint',
      )
    }
  }
}

/** New-layout directories of an attempt that died before writing its marker. */
async function removeLitter(fs: CheckpointFs, location: string, operator: string): Promise<void> {
  const layout = checkpointLayout(location)
  for (const name of await fs.readdir(layout.stateRoot)) {
    if (name.startsWith(`${operator}.rescale-`) && /^\d+$/.test(name.slice(operator.length + '.rescale-'.length))) {
      await fs.remove(join(layout.stateRoot, name))
    }
  }
}
