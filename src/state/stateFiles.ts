import { identity } from 'io-ts'
import { CheckpointCorruptedError, IncompatibleCheckpointError } from '../errors.js'
import type { CheckpointFs } from '../durable/fs.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'
import { keyIdOf, windowedId } from '../util/keys.js'
import { safeJson } from '../util/text.js'
import { PatchedKey, readStateEntry, RemovedKey, resolvePatch } from './stateEntries.js'
import type { EntryVisitor, ReplayedFile, StateFileName } from './stateFileList.js'
import type { EncodedEntry, PartitionDelta, StateStore } from './stateStore.js'
import { PartitionedStateFiles } from './stateFilesV1.js'
import { OperatorBatchStateFiles } from './stateFilesV2.js'

export { type EntryVisitor, type ReplayedFile, readStateLines } from './stateFileList.js'

/**
 * The state files of one stateful operator, in the layout of one checkpoint format version: v1 writes one file per
 * shuffle partition per batch (`<partition>/<batchId>.delta`), v2 one file per batch holding every changed partition
 * (`<batchId>.delta`, whose lines may be patches against the previous batch). Every reader goes through {@link OperatorStateFiles.replay}: the latest snapshot ≤ the version
 * asked for, then the deltas after it, each file checksum-verified.
 */
export interface OperatorStateFiles {
  /** The checkpoint format version whose layout these files follow. */
  readonly formatVersion: number
  /**
   * Writes the changes of one batch (the partitions that changed) atomically. Everything is encoded before this
   * returns, and the returned promise may be the file system's own (which a later write may be ordered after).
   * @throws (synchronously or by rejecting) the error of encoding an entry; the file-system error of the write.
   */
  writeDelta(batchId: number, deltas: readonly PartitionDelta[]): Promise<void>
  /** Writes every key of every partition after one batch; `partitions[p]` holds partition p's entries. */
  writeSnapshot(batchId: number, partitions: readonly EncodedEntry[][]): Promise<void>
  /**
   * Replays the state as of `version`, file by file in the order to apply them; `visitFile` returns the visitor of
   * that file's entry lines (the parsed line, its line number in the body, its partition).
   * @throws CheckpointCorruptedError naming the file when it fails its checksum or a line does not parse.
   */
  replay(version: number, visitFile: (file: ReplayedFile) => EntryVisitor): Promise<void>
  /** The state files holding partition `partition`'s state, and the directory they are in. */
  filesOf(partition: number): Promise<{ dir: string; files: StateFileName[] }>
  /** Removes the files of batches after `version` (written by attempts that never committed). */
  removeAfter(version: number): Promise<void>
  /** Removes files no restore of a version ≥ `minVersion` needs: everything before the last snapshot ≤ it. */
  purge(minVersion: number): Promise<void>
}

/**
 * The state files of the operator whose directory is `dir` (`state/<operator>`), in the layout of `formatVersion`.
 * `stateVersion` is what files written through it carry in their header.
 * @example const files = operatorStateFiles(nodeFs, '/ckpt/state/count', { formatVersion: 2, partitions: 8, stateVersion: 1 })
 * @throws RangeError for a format version without a state file layout.
 */
export function operatorStateFiles(
  fs: CheckpointFs,
  dir: string,
  options: { formatVersion: number; partitions: number; stateVersion: number },
): OperatorStateFiles {
  switch (options.formatVersion) {
    case 1:
      return new PartitionedStateFiles(fs, dir, options.partitions, options.stateVersion)
    case 2:
      return new OperatorBatchStateFiles(fs, dir, options.partitions, options.stateVersion)
    default:
      throw new RangeError(`no state file layout for checkpoint format v${options.formatVersion}`)
  }
}

/** Why a persisted state value did not decode (returned, not thrown, so the hot restore loop allocates nothing). */
export class StateDecodeFailure {
  constructor(readonly reason: string) {}
}

/**
 * Decodes one persisted state value (through a migration when it was written at an older version): the value, or a
 * StateDecodeFailure.
 */
export type StateDecoder = (encoded: unknown) => unknown

/**
 * Loads the state as of `version` into `store` (cleared first), decoding through `decoderFor` (the operator's
 * codec, or a migration from the file's older state version). Every line is checked as it is read. With
 * `currentStateVersion` (the operator's), the lines of a snapshot written at that version stay cold in the store
 * (see {@link StateStore.restoreCold}) when the store keeps cold lines; other files are restored as entries.
 * @example await loadState(files, store, 7, (v, path) => stateDecoders(spec, '/ckpt')(v, path), false, 1)
 * @throws CheckpointCorruptedError naming the file when a line does not parse; IncompatibleCheckpointError when a
 * key or state no longer decodes with the query's codecs.
 */
export async function loadState(
  files: OperatorStateFiles,
  store: StateStore,
  version: number,
  decoderFor: (stateVersion: number, path: string) => StateDecoder,
  windowed: boolean,
  currentStateVersion?: number,
): Promise<void> {
  store.clear()
  if (version < 0) return
  await files.replay(version, (file) => {
    const decode = decoderFor(file.stateVersion, file.path)
    if (file.kind !== 'snapshot' || file.stateVersion !== currentStateVersion || !store.keepsCold) {
      return entryApplier(store, file, decode, windowed, false)
    }
    // A cold line becomes an entry through the same applier an eager restore uses, so it fails the same way.
    store.openColdFile(entryApplier(store, file, decode, windowed, false), file.bytes)
    return entryApplier(store, file, decode, windowed, true)
  })
}

function entryApplier(store: StateStore, file: ReplayedFile, decodeState: StateDecoder, windowed: boolean, cold: boolean): EntryVisitor {
  const { path, span } = file
  const inSnapshot = file.kind === 'snapshot'
  const patchLines = !inSnapshot && file.formatVersion >= 2
  const keyCodec = store.keyCodec
  return (item, lineNo, partition) => {
    const change = readStateEntry(item, inSnapshot, patchLines)
    if (change === undefined) throw new CheckpointCorruptedError(path, `line ${lineNo} is not a state entry`)
    const w = change.w
    if (windowed !== (w !== undefined)) {
      throw new CheckpointCorruptedError(path, `line ${lineNo}: ${windowed ? 'missing' : 'unexpected'} window of a ${windowed ? '' : 'non-'}windowed operator`)
    }
    const window = w ? { start: w[0], end: w[1] } : undefined
    const keyId = keyIdOf(change.k)
    const id = window ? windowedId(keyId, window) : keyId
    if (change instanceof RemovedKey) {
      store.forget(id)
      return
    }
    // An encoded key that already is a valid key (plain codecs) skips io-ts's allocating decode.
    let key: unknown = change.k
    const isKey = keyCodec.is(key)
    if (!isKey) {
      const decoded = keyCodec.decode(change.k)
      if (decoded._tag === 'Left') {
        const { path: at, message } = describeIoTsErrors(decoded.left)
        // The file passed its checksum, so it holds what was written: the query's key codec no longer reads it.
        throw new IncompatibleCheckpointError(path, [
          `operator '${store.operator}': a key in ${path} (line ${lineNo}) does not decode with key codec ${keyCodec.name}` +
            `${at ? ` at ${at}` : ''}: ${message}. Keys cannot evolve; start the changed query on a new checkpoint location`,
        ])
      }
      key = decoded.right
    }
    // New rows find their state by the id of `encode(key)`. A codec that kept its name but changed its encoding
    // passes the fingerprint check, so the stored keys must show it: each must encode back to what was written, or
    // the key's new rows would start a second, empty state beside the restored one.
    if (!isKey || keyCodec.encode !== identity) {
      const reencoded = keyCodec.encode(key)
      if (keyIdOf(reencoded) !== keyId) throw keyEncodingChanged(store.operator, keyCodec.name, path, lineNo, change.k, reencoded)
    }
    let encoded: unknown
    if (change instanceof PatchedKey) {
      const previous = store.get(id)
      encoded = resolvePatch(path, lineNo, previous?.durable, previous !== undefined, change)
    } else {
      encoded = change.s
    }
    const state = decodeState(encoded)
    if (state instanceof StateDecodeFailure) {
      // A patch is checked against nothing when written: a value it yields that the codec rejects is damage. A whole
      // value passed its checksum, so it holds what was written: the state codec changed without a new version.
      if (change instanceof PatchedKey) {
        throw new CheckpointCorruptedError(path, `line ${lineNo}: the patched state does not decode: ${state.reason}`)
      }
      throw new IncompatibleCheckpointError(path, [
        `operator '${store.operator}': state in ${path} (line ${lineNo}) does not decode: ${state.reason}. If the state ` +
          'codec changed, raise the operator\'s version and add a migration from the old one',
      ])
    }
    if (cold) store.restoreCold(id, partition, lineNo, span)
    else store.restore(id, key, window, state, change.t, partition, encoded)
  }
}

/** The refusal of a key codec that encodes a stored key differently from how it was written. */
function keyEncodingChanged(operator: string, codec: string, path: string, lineNo: number, stored: unknown, reencoded: unknown): IncompatibleCheckpointError {
  return new IncompatibleCheckpointError(path, [
    `operator '${operator}': stored key ${safeJson(stored)} in ${path} (line ${lineNo}) decodes, but key codec ${codec} now ` +
      `encodes it as ${safeJson(reencoded)}: the codec's encoding changed under the same name, so the key's new rows ` +
      'would not find its state; keys cannot evolve; start the changed query on a new checkpoint location',
  ])
}
