/**
 * Recording a changed object state as patches against the value the state files hold for it, when the patches are
 * the smaller record.
 */
import { PatchedKey } from './stateEntries.js'
import { diffJson } from './patches.js'
import type { EncodedEntry, StateEntry } from './stateEntries.js'

/** At most this many patches per key and batch; a change needing more is recorded as the whole value. */
const MAX_PATCHES = 64

/**
 * A changed entry as patches against its durable value, or undefined when the whole value is the smaller record (or
 * the key is new, or its state is not an object). The value's size is measured once and then estimated (grown by
 * each patch written); it is measured again whenever a patch comes close to it.
 * @example asPatches(entry, store.encode(entry)) // PatchedKey { k: 'a', d: [{ op: 'replace', path: ['n'], value: 2 }] }
 * @throws never.
 */
export function asPatches(entry: StateEntry, encoded: EncodedEntry): PatchedKey | undefined {
  const before = entry.durable
  if (before === undefined || typeof encoded.s !== 'object' || encoded.s === null || typeof before !== 'object') return undefined
  const d = diffJson(before, encoded.s, MAX_PATCHES)
  if (d === undefined) return undefined
  const bytes = JSON.stringify(d).length
  let whole = entry.durableBytes ?? JSON.stringify(before).length
  if (bytes * 2 >= whole) whole = JSON.stringify(encoded.s).length
  if (bytes >= whole) return undefined
  entry.durableBytes = whole + bytes
  return new PatchedKey(encoded.k, d, encoded.w, encoded.t)
}
