import { join } from 'node:path'
import { identity } from 'io-ts'
import { CheckpointCorruptedError, IncompatibleCheckpointError } from '../errors.js'
import type { CheckpointFs } from '../durable/fs.js'
import { decodeCheckpointFile, writeCheckpointFile } from '../durable/format.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'
import { keyIdOf, windowedId } from '../util/keys.js'
import { safeJson } from '../util/text.js'
import { decodeStateLine, encodeDeltaLine, PATCH_FORMAT_VERSION, resolvePatch } from './deltaEntries.js'
import type { EncodedEntry, PartitionDelta, StateStore } from './stateStore.js'

/**
 * State files of one operator: `state/<operator>/<partition>/<batchId>.delta` (changed and removed keys of a batch)
 * and `<batchId>.snapshot` (every key of the partition after the batch). A body is JSON lines: first a header
 * `{"stateVersion":n}` (the operator's state version that wrote the file, so files written before a migration are
 * still read through it), then in deltas one line per changed key (see `deltaEntries.ts`: an upsert, a removal or
 * patches against the key's previous state), in snapshots one whole entry per line.
 */
export class StateFiles {
  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    /** The state version that files written through this object carry. */
    private readonly stateVersion: number,
  ) {}

  private header(): string {
    return JSON.stringify({ stateVersion: this.stateVersion })
  }

  partitionDir(partition: number): string {
    return join(this.dir, String(partition))
  }

  async writeDelta(batchId: number, delta: PartitionDelta): Promise<void> {
    const lines: string[] = [this.header()]
    for (const entry of delta.upserts) lines.push(encodeDeltaLine({ kind: 'upsert', entry }))
    for (const entry of delta.patches) lines.push(encodeDeltaLine({ kind: 'patch', entry }))
    delta.removes.forEach((k, i) => {
      const w = delta.removedWindows[i]
      lines.push(encodeDeltaLine({ kind: 'remove', entry: w ? { k, w } : { k } }))
    })
    const path = join(this.partitionDir(delta.partition), `${batchId}.delta`)
    // Only a delta that holds patches needs a reader that knows them: any other keeps the version every reader reads.
    await writeCheckpointFile(this.fs, path, lines.join('\n'), delta.patches.length > 0 ? PATCH_FORMAT_VERSION : undefined)
  }

  async writeSnapshot(batchId: number, partition: number, entries: EncodedEntry[]): Promise<void> {
    const body = [this.header(), ...entries.map((e) => JSON.stringify(e))].join('\n')
    await writeCheckpointFile(this.fs, join(this.partitionDir(partition), `${batchId}.snapshot`), body)
  }

  /** The state files of a partition, as `{ batchId, kind }`, in batch order. */
  async list(partition: number): Promise<{ batchId: number; kind: 'delta' | 'snapshot'; name: string }[]> {
    const names = await this.fs.readdir(this.partitionDir(partition))
    const files: { batchId: number; kind: 'delta' | 'snapshot'; name: string }[] = []
    for (const name of names) {
      const m = /^(0|[1-9]\d*)\.(delta|snapshot)$/.exec(name)
      if (m) files.push({ batchId: Number(m[1]), kind: m[2] as 'delta' | 'snapshot', name })
    }
    return files.sort((a, b) => a.batchId - b.batchId || (a.kind === 'snapshot' ? 1 : -1))
  }

  /** The files that make up a partition's state as of `version`, in the order to apply them: the latest snapshot
   * ≤ version (if any), then the deltas after it. */
  async filesForVersion(partition: number, version: number): Promise<{ batchId: number; kind: 'delta' | 'snapshot'; name: string }[]> {
    const files = (await this.list(partition)).filter((f) => f.batchId <= version)
    const base = files.map((f) => f.kind).lastIndexOf('snapshot')
    if (base < 0) return files
    return files.slice(base).filter((f, i) => i === 0 || f.batchId > files[base]!.batchId)
  }

  /**
   * Replays a partition's state as of `version` the way every reader must: the latest snapshot ≤ version (if any),
   * then the deltas after it, each file checksum-verified and visited line by line after its header. Recovery and
   * the offline tools differ only in what `visitFile` does with the lines.
   * @throws CheckpointCorruptedError naming the file when it fails its checksum or a line does not parse.
   */
  async replay(
    partition: number,
    version: number,
    visitFile: (file: ReplayedFile) => (entry: unknown, index: number) => void,
  ): Promise<void> {
    for (const file of await this.filesForVersion(partition, version)) {
      const path = join(this.partitionDir(partition), file.name)
      const raw = await this.fs.readFile(path)
      const body = decodeCheckpointFile(path, raw).body
      readStateLines(path, body, (stateVersion) => visitFile({ ...file, path, bytes: raw.length, stateVersion }))
    }
  }

  /**
   * Loads the state of every partition as of `version` (latest snapshot ≤ version, then the deltas after it) into
   * `store`, decoding through `decodeState` (the operator's codec, or a migration from an older one).
   * @throws CheckpointCorruptedError naming the file when a line does not parse or fails its codec.
   */
  async load(
    store: StateStore,
    version: number,
    partitions: number,
    decoderFor: (stateVersion: number, path: string) => StateDecoder,
    windowed: boolean,
  ): Promise<void> {
    store.clear()
    if (version < 0) return
    for (let p = 0; p < partitions; p++) {
      await this.replay(p, version, (file) => entryApplier(store, file.path, p, file.kind, decoderFor(file.stateVersion, file.path), windowed))
    }
  }

  /**
   * Removes the files of batches after `version`, written by an attempt whose batch never committed: its re-run may
   * write a delta where that attempt wrote a snapshot (e.g. the attempt ran an upgraded plan), and a stale snapshot
   * would shadow the delta on every later restore.
   */
  async removeAfter(version: number, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      for (const f of await this.list(p)) {
        if (f.batchId > version) await this.fs.remove(join(this.partitionDir(p), f.name))
      }
    }
  }

  /** Removes files no restore of a version ≥ `minVersion` needs: everything before the last snapshot ≤ it. */
  async purge(minVersion: number, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      const files = await this.list(p)
      const base = files.filter((f) => f.kind === 'snapshot' && f.batchId <= minVersion).pop()
      if (base === undefined) continue
      for (const f of files) {
        if (f.batchId < base.batchId) await this.fs.remove(join(this.partitionDir(p), f.name))
      }
    }
  }
}

/** A state file as {@link StateFiles.replay} visits it. */
export interface ReplayedFile {
  readonly batchId: number
  readonly kind: 'delta' | 'snapshot'
  readonly name: string
  readonly path: string
  /** Size of the file on disk. */
  readonly bytes: number
  /** The state version in the file's header. */
  readonly stateVersion: number
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
 * Visits the entry lines of a state file body one at a time, after reading its header's state version. Parsing line
 * by line lets each parsed entry die young, where one big parse of a million-line body would keep them all alive
 * (and promote them to the old generation) until the last one is restored.
 * @throws CheckpointCorruptedError naming the file and line that is not JSON or lacks the header.
 */
export function readStateLines(
  path: string,
  body: string,
  visit: (stateVersion: number) => (entry: unknown, index: number) => void,
): void {
  let start = 0
  let lineNo = 0
  let onEntry: ((entry: unknown, index: number) => void) | undefined
  while (start < body.length) {
    let end = body.indexOf('\n', start)
    if (end === -1) end = body.length
    lineNo++
    let item: unknown
    try {
      item = JSON.parse(body.slice(start, end))
    } catch {
      throw new CheckpointCorruptedError(path, `line ${lineNo} is not JSON`)
    }
    start = end + 1
    if (onEntry === undefined) {
      const version = (item as { stateVersion?: unknown } | null)?.stateVersion
      if (lineNo !== 1 || typeof version !== 'number') break
      onEntry = visit(version)
    } else {
      onEntry(item, lineNo - 2)
    }
  }
  if (onEntry === undefined) throw new CheckpointCorruptedError(path, 'line 1 is not a state file header {"stateVersion":n}')
}

/**
 * A state file body as its header's state version and its parsed entry lines (for tools; a restore streams them).
 * @throws CheckpointCorruptedError naming the file and line that is not JSON or lacks the header.
 */
export function parseStateFile(path: string, body: string): { stateVersion: number; lines: unknown[] } {
  const lines: unknown[] = []
  let stateVersion = 0
  readStateLines(path, body, (version) => {
    stateVersion = version
    return (entry) => void lines.push(entry)
  })
  return { stateVersion, lines }
}

/** The line of entry `i` of a state file (after the header line), for errors: built only when one is thrown. */
function lineOf(i: number): string {
  return `line ${i + 2}`
}

function entryApplier(
  store: StateStore,
  path: string,
  partition: number,
  kind: 'delta' | 'snapshot',
  decodeState: StateDecoder,
  windowed: boolean,
): (item: unknown, i: number) => void {
  const keyCodec = store.keyCodec
  return (item, i) => {
    const line = decodeStateLine(path, i + 2, kind, item)
    const target = line.entry
    const w = target.w
    if (windowed !== (w !== undefined)) {
      throw new CheckpointCorruptedError(path, `${lineOf(i)}: ${windowed ? 'missing' : 'unexpected'} window of a ${windowed ? '' : 'non-'}windowed operator`)
    }
    const window = w ? { start: w[0], end: w[1] } : undefined
    const keyId = keyIdOf(target.k)
    const id = window ? windowedId(keyId, window) : keyId
    if (line.kind === 'remove') {
      store.forget(id)
      return
    }
    // An encoded key that already is a valid key (plain codecs) skips io-ts's allocating decode.
    let key: unknown = target.k
    const isKey = keyCodec.is(key)
    if (!isKey) {
      const decoded = keyCodec.decode(target.k)
      if (decoded._tag === 'Left') {
        const { path: at, message } = describeIoTsErrors(decoded.left)
        // The file passed its checksum, so it holds what was written: the query's key codec no longer reads it.
        throw new IncompatibleCheckpointError(path, [
          `operator '${store.operator}': a key in ${path} (${lineOf(i)}) does not decode with key codec ${keyCodec.name}` +
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
      if (keyIdOf(reencoded) !== keyId) throw keyEncodingChanged(store.operator, keyCodec.name, path, i, target.k, reencoded)
    }
    let encoded: unknown
    if (line.kind === 'patch') {
      const previous = store.get(id)
      encoded = resolvePatch(path, i + 2, previous?.durable, previous !== undefined, line.entry)
    } else {
      encoded = line.entry.s
    }
    const state = decodeState(encoded)
    if (state instanceof StateDecodeFailure) {
      // A patch is checked against nothing when written: a value it yields that the codec rejects is damage. A whole
      // value passed its checksum, so it holds what was written: the state codec changed without a new version.
      if (line.kind === 'patch') {
        throw new CheckpointCorruptedError(path, `${lineOf(i)}: the patched state does not decode: ${state.reason}`)
      }
      throw new IncompatibleCheckpointError(path, [
        `operator '${store.operator}': state in ${path} (${lineOf(i)}) does not decode: ${state.reason}. If the state ` +
          'codec changed, raise the operator\'s version and add a migration from the old one',
      ])
    }
    store.restore(id, key, window, state, line.entry.t, partition, encoded)
  }
}

/** The refusal of a key codec that encodes a stored key differently from how it was written. */
function keyEncodingChanged(operator: string, codec: string, path: string, i: number, stored: unknown, reencoded: unknown): IncompatibleCheckpointError {
  return new IncompatibleCheckpointError(path, [
    `operator '${operator}': stored key ${safeJson(stored)} in ${path} (${lineOf(i)}) decodes, but key codec ${codec} now ` +
      `encodes it as ${safeJson(reencoded)}: the codec's encoding changed under the same name, so the key's new rows ` +
      'would not find its state; keys cannot evolve; start the changed query on a new checkpoint location',
  ])
}
