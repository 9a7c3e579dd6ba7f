/**
 * The lines of a state delta file, encoded and decoded in this one place (whatever file layout holds them):
 * `{"u":entry}` upserts a key with its whole state, `{"r":{"k":key,"w":window}}` removes one, and
 * `{"p":{"k":key,"w":window,"t":timeout,"d":[patches]}}` changes a key's state by immer patches against the value it
 * had after the previous batch (its timeout, like an upsert's, is the one after this batch).
 */
import { CheckpointCorruptedError } from '../errors.js'
import { applyJsonPatches, PatchFailure, type Patch } from './patches.js'
import type { EncodedEntry } from './stateStore.js'

/** A key whose state changed by patches: key, window, timeout after the batch, and the patches. */
export interface PatchedEntry {
  k: unknown
  w?: [number, number]
  t?: number
  d: Patch[]
}

/** One decoded delta line. */
export type DeltaLine =
  | { readonly kind: 'upsert'; readonly entry: EncodedEntry }
  | { readonly kind: 'remove'; readonly entry: Pick<EncodedEntry, 'k' | 'w'> }
  | { readonly kind: 'patch'; readonly entry: PatchedEntry }

/**
 * The first checkpoint format version whose state files may hold patch lines. A delta holding one is written with
 * this version line, so a library that predates patches refuses the file as too new instead of misreading it; a
 * delta without patch lines keeps the older version line.
 */
export const PATCH_FORMAT_VERSION = 2

/**
 * The text of one delta line.
 * @example encodeDeltaLine({ kind: 'remove', entry: { k: 'walk' } }) // '{"r":{"k":"walk"}}'
 * @throws never (entries were encoded and checked by the state store).
 */
export function encodeDeltaLine(line: DeltaLine): string {
  switch (line.kind) {
    case 'upsert':
      return JSON.stringify({ u: line.entry })
    case 'remove':
      return JSON.stringify({ r: line.entry.w ? { k: line.entry.k, w: line.entry.w } : { k: line.entry.k } })
    case 'patch':
      return JSON.stringify({ p: line.entry })
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Reads one parsed line of a state file: a delta's upsert, removal or patch, or a snapshot's entry (an upsert).
 * @example decodeStateLine('/ckpt/state/count/0/3.delta', 2, 'delta', { u: { k: 'walk', s: 3 } })
 * @throws CheckpointCorruptedError naming the file and line when it is not a state entry of that kind of file.
 */
export function decodeStateLine(path: string, lineNo: number, kind: 'delta' | 'snapshot', item: unknown): DeltaLine {
  const bad = (why: string) => new CheckpointCorruptedError(path, `line ${lineNo} ${why}`)
  const record = isObject(item) ? item : {}
  const [tag, body] = kind === 'snapshot' ? ['u', item] : 'u' in record ? ['u', record.u] : 'r' in record ? ['r', record.r] : ['p', record.p]
  if (!isObject(body) || !('k' in body)) throw bad('is not a state entry')
  const w = body.w
  if (w !== undefined && !(Array.isArray(w) && w.length === 2 && w.every((n) => typeof n === 'number'))) {
    throw bad('has a window that is not [start, end]')
  }
  if (tag === 'r') return { kind: 'remove', entry: body as Pick<EncodedEntry, 'k' | 'w'> }
  if (body.t !== undefined && typeof body.t !== 'number') throw bad('has a timeout that is not a number')
  if (tag === 'u') {
    if (!('s' in body)) throw bad('is a state entry without state')
    return { kind: 'upsert', entry: body as unknown as EncodedEntry }
  }
  if (!Array.isArray(body.d)) throw bad('is a patch entry without a list of patches')
  return { kind: 'patch', entry: body as unknown as PatchedEntry }
}

/**
 * The encoded state a patch line produces from the key's previous encoded state.
 * @example resolvePatch(path, 3, { n: 1 }, true, { k: 'a', d: [{ op: 'replace', path: ['n'], value: 2 }] }) // { n: 2 }
 * @throws CheckpointCorruptedError naming the file and line when the key had no state before the patch, or the
 * patches are malformed or do not apply to that state.
 */
export function resolvePatch(path: string, lineNo: number, previous: unknown, existed: boolean, entry: PatchedEntry): unknown {
  if (!existed) {
    throw new CheckpointCorruptedError(path, `line ${lineNo} patches the state of key ${JSON.stringify(entry.k)}, which has no earlier state`)
  }
  const next = applyJsonPatches(previous, entry.d)
  if (next instanceof PatchFailure) throw new CheckpointCorruptedError(path, `line ${lineNo}: ${next.reason}`)
  return next
}
