/**
 * The encoding of one state entry as one JSON line, shared by every state file format: in a snapshot an entry line
 * is the encoded entry itself, `{"k":key,"s":state}` (with `"w":[start,end]` for a window and `"t":ms` for a
 * timeout); in a delta it is `{"u":entry}` for an upsert or `{"r":{"k":key,"w":window}}` for a removal. Writing and
 * reading an entry happen here and nowhere else, so a new kind of entry is one case in each of the two functions.
 */
import type { EncodedEntry } from './stateStore.js'

/** A key a delta removes (its window too, for a windowed operator). */
export class RemovedKey {
  constructor(
    readonly k: unknown,
    readonly w?: [number, number],
  ) {}
}

/** What one entry line of a state file says about one key: its whole stored entry, or that it was removed. */
export type StateChange = EncodedEntry | RemovedKey

/**
 * The line of one entry, for a snapshot (`inSnapshot`, upserts only) or a delta.
 * @example writeStateEntry({ k: 'a', s: 1 }, false) // '{"u":{"k":"a","s":1}}'
 * @throws RangeError when a removal is written to a snapshot.
 */
export function writeStateEntry(change: StateChange, inSnapshot: boolean): string {
  if (change instanceof RemovedKey) {
    if (inSnapshot) throw new RangeError('a snapshot holds no removals')
    return JSON.stringify({ r: change.w ? { k: change.k, w: change.w } : { k: change.k } })
  }
  return inSnapshot ? JSON.stringify(change) : JSON.stringify({ u: change })
}

/**
 * The change a parsed entry line holds, or undefined when the line is not a well-formed entry (the caller names the
 * file and line). A snapshot line comes back as the very object parsed: a restore allocates nothing more per key.
 * @example readStateEntry({ u: { k: 'a', s: 1 } }, false) // { k: 'a', s: 1 }
 * @throws never.
 */
export function readStateEntry(item: unknown, inSnapshot: boolean): StateChange | undefined {
  if (inSnapshot) return isStored(item) ? item : undefined
  if (typeof item !== 'object' || item === null) return undefined
  const record = item as { u?: unknown; r?: unknown }
  if (record.u !== undefined) return isStored(record.u) ? record.u : undefined
  const r = record.r
  if (isKeyed(r)) return new RemovedKey(r.k, r.w)
  return undefined
}

function isKeyed(value: unknown): value is { k: unknown; w?: [number, number] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('k' in value)) return false
  const w = (value as { w?: unknown }).w
  return w === undefined || (Array.isArray(w) && w.length === 2 && typeof w[0] === 'number' && typeof w[1] === 'number')
}

function isStored(value: unknown): value is EncodedEntry {
  if (!isKeyed(value) || !('s' in value)) return false
  const timeout = (value as { t?: unknown }).t
  return timeout === undefined || typeof timeout === 'number'
}
