/**
 * The shapes of a state entry (in memory, encoded, in one partition's delta) and the encoding of one entry as one JSON
 * line, shared by every state file format: in a snapshot an entry line
 * is the encoded entry itself, `{"k":key,"s":state}` (with `"w":[start,end]` for a window and `"t":ms` for a
 * timeout); in a delta it is `{"u":entry}` for an upsert, `{"r":{"k":key,"w":window}}` for a removal, or
 * `{"p":{"k":key,"w":window,"t":timeout,"d":[patches]}}` for a state changed by immer patches against the value the
 * key had after the previous batch (its timeout, like an upsert's, is the one after this batch). Patch lines exist
 * only in format v2 delta files. Writing and reading an entry happen here and nowhere else, so a new kind of entry is
 * one case in each of the two functions.
 */
import { CheckpointCorruptedError } from '../errors.js'
import type { Window } from '../plan/nodes.js'
import { applyJsonPatches, PatchFailure, type Patch } from './patches.js'

/** One key's state: the decoded key (and window), its shuffle partition, the value and an optional timeout. */
export interface StateEntry {
  readonly id: string
  readonly key: unknown
  readonly window?: Window
  readonly partition: number
  value: unknown
  /** Epoch ms: a mapGroupsWithState timeout, or when a dropDuplicates key expires. */
  timeoutAt?: number
  /** The store's batch epoch in which the entry last changed: marks it changed once per batch, not once per row. */
  changedIn: number
  /** The encoded state as the state files hold it after the last batch (undefined for a key new in this batch). */
  durable?: unknown
  /** Estimated JSON size of `durable`, once measured: decides whether patches are the smaller record. */
  durableBytes?: number
}

/** How an entry is persisted: codec-encoded key, window bounds, codec-encoded state, timeout. */
export interface EncodedEntry {
  k: unknown
  w?: [number, number]
  s: unknown
  t?: number
}

/** The changes of one batch in one partition: upserted, patched and removed keys, ready to persist. */
export interface PartitionDelta {
  readonly partition: number
  readonly upserts: EncodedEntry[]
  /** Keys whose state is recorded as patches against its value after the previous batch. */
  readonly patches: PatchedKey[]
  readonly removes: EncodedEntry['k'][]
  readonly removedWindows: ([number, number] | null)[]
}

/** A key a delta removes (its window too, for a windowed operator). */
export class RemovedKey {
  constructor(
    readonly k: unknown,
    readonly w?: [number, number],
  ) {}
}

/** A key whose state changed by patches: key, window, timeout after the batch, and the patches. */
export class PatchedKey {
  readonly k: unknown
  readonly w?: [number, number]
  readonly t?: number
  readonly d: Patch[]
  constructor(k: unknown, d: Patch[], w?: [number, number], t?: number) {
    // Assigned in line order (k, w, t, d) so the written line reads the same as the documented one.
    this.k = k
    if (w !== undefined) this.w = w
    if (t !== undefined) this.t = t
    this.d = d
  }
}

/** What one entry line of a state file says about one key: its whole stored entry, its patches, or its removal. */
export type StateChange = EncodedEntry | RemovedKey | PatchedKey

/**
 * The line of one entry, for a snapshot (`inSnapshot`, whole entries only) or a delta.
 * @example writeStateEntry({ k: 'a', s: 1 }, false) // '{"u":{"k":"a","s":1}}'
 * @throws RangeError when a removal or a patch is written to a snapshot.
 */
export function writeStateEntry(change: StateChange, inSnapshot: boolean): string {
  // `{"u":${JSON.stringify(x)}}` is JSON.stringify({ u: x }) for an object x, without a wrapper object per line.
  if (change instanceof RemovedKey) {
    if (inSnapshot) throw new RangeError('a snapshot holds no removals')
    return `{"r":${JSON.stringify(change.w ? { k: change.k, w: change.w } : { k: change.k })}}`
  }
  if (change instanceof PatchedKey) {
    if (inSnapshot) throw new RangeError('a snapshot holds no patches')
    return `{"p":${JSON.stringify(change)}}`
  }
  return inSnapshot ? JSON.stringify(change) : `{"u":${JSON.stringify(change)}}`
}

/**
 * The change a parsed entry line holds, or undefined when the line is not a well-formed entry of that file (the
 * caller names the file and line); `patchLines` says whether the file may hold patch lines (a v2 delta; never a v1
 * file nor a snapshot). A snapshot line comes back as the very object parsed: a restore allocates nothing more per key.
 * @example readStateEntry({ u: { k: 'a', s: 1 } }, false, true) // { k: 'a', s: 1 }
 * @throws never.
 */
export function readStateEntry(item: unknown, inSnapshot: boolean, patchLines: boolean): StateChange | undefined {
  if (inSnapshot) return isStored(item) ? item : undefined
  if (typeof item !== 'object' || item === null) return undefined
  const record = item as { u?: unknown; r?: unknown; p?: unknown }
  if (record.u !== undefined) return isStored(record.u) ? record.u : undefined
  const r = record.r
  if (r !== undefined) return isKeyed(r) ? new RemovedKey(r.k, r.w) : undefined
  const p = record.p
  if (patchLines && isKeyed(p) && hasTimeout(p)) {
    const { d, t } = p as { d?: unknown; t?: number }
    if (Array.isArray(d)) return new PatchedKey(p.k, d as Patch[], p.w, t)
  }
  return undefined
}

/**
 * The encoded state a patch line produces from the key's previous encoded state (`existed` false when it had none).
 * @example resolvePatch(path, 3, { n: 1 }, true, new PatchedKey('a', [{ op: 'replace', path: ['n'], value: 2 }])) // { n: 2 }
 * @throws CheckpointCorruptedError naming the file and line when the key had no state before the patch, or the
 * patches are malformed or do not apply to that state.
 */
export function resolvePatch(path: string, lineNo: number, previous: unknown, existed: boolean, entry: PatchedKey): unknown {
  if (!existed) {
    throw new CheckpointCorruptedError(path, `line ${lineNo} patches the state of key ${JSON.stringify(entry.k)}, which has no earlier state`)
  }
  const next = applyJsonPatches(previous, entry.d)
  if (next instanceof PatchFailure) throw new CheckpointCorruptedError(path, `line ${lineNo}: ${next.reason}`)
  return next
}

function isKeyed(value: unknown): value is { k: unknown; w?: [number, number] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('k' in value)) return false
  const w = (value as { w?: unknown }).w
  return w === undefined || (Array.isArray(w) && w.length === 2 && typeof w[0] === 'number' && typeof w[1] === 'number')
}

function hasTimeout(value: object): boolean {
  const timeout = (value as { t?: unknown }).t
  return timeout === undefined || typeof timeout === 'number'
}

function isStored(value: unknown): value is EncodedEntry {
  return isKeyed(value) && 's' in value && hasTimeout(value)
}
