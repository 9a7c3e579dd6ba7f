/**
 * State changes as patches: the difference between two codec-encoded (JSON) state values as immer patches, and their
 * replay. State handed to user code is immutable and changed through immer, so an unchanged part of a new value is
 * the very object of the old one: the difference is found by comparing references first and descending only into
 * what was copied, which keeps a one-event change to a list of a thousand events a one-patch delta.
 */
import { applyPatches, enablePatches, type Patch } from 'immer'

enablePatches()

export type { Patch }

/**
 * The patches that turn JSON value `before` into `after` (`add`, `remove` and `replace` on object keys and array
 * indexes, removals from the end of an array highest index first), or undefined when more than `maxPatches` would be
 * needed (the whole value is then the smaller record).
 * @example diffJson({ events: [1] }, { events: [1, 2] }, 16) // [{ op: 'add', path: ['events', 1], value: 2 }]
 * @throws never.
 */
export function diffJson(before: unknown, after: unknown, maxPatches: number): Patch[] | undefined {
  const out: Patch[] = []
  return diffInto(before, after, [], out, maxPatches) ? out : undefined
}

const RESERVED = ['__proto__', 'constructor', 'prototype']

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function diffInto(before: unknown, after: unknown, path: (string | number)[], out: Patch[], max: number): boolean {
  if (before === after) return true
  if (Array.isArray(before) && Array.isArray(after)) {
    const common = Math.min(before.length, after.length)
    for (let i = 0; i < common; i++) {
      if (before[i] !== after[i] && !diffInto(before[i], after[i], [...path, i], out, max)) return false
    }
    for (let i = common; i < after.length; i++) {
      out.push({ op: 'add', path: [...path, i], value: after[i] })
      if (out.length > max) return false
    }
    for (let i = before.length - 1; i >= common; i--) {
      out.push({ op: 'remove', path: [...path, i] })
      if (out.length > max) return false
    }
    return true
  }
  if (isRecord(before) && isRecord(after)) {
    // immer refuses to patch through these names (prototype pollution): such a change is recorded as a whole value.
    if (RESERVED.some((name) => Object.hasOwn(before, name) || Object.hasOwn(after, name))) return false
    // A restore must give back the very value, key order included (it shows in every row serialized from the state).
    if (!keepsKeyOrder(before, after)) {
      out.push({ op: 'replace', path, value: after })
      return out.length <= max
    }
    // Own keys only: a key named like an Object.prototype member ("toString") is data like any other.
    for (const key of Object.keys(after)) {
      const next = after[key]
      if (next === undefined) continue
      const prev = Object.hasOwn(before, key) ? before[key] : undefined
      if (prev === undefined) out.push({ op: 'add', path: [...path, key], value: next })
      else if (!diffInto(prev, next, [...path, key], out, max)) return false
      if (out.length > max) return false
    }
    for (const key of Object.keys(before)) {
      if (before[key] !== undefined && (!Object.hasOwn(after, key) || after[key] === undefined)) {
        out.push({ op: 'remove', path: [...path, key] })
        if (out.length > max) return false
      }
    }
    return true
  }
  out.push({ op: 'replace', path, value: after })
  return out.length <= max
}

/**
 * Whether patching `before` into `after` key by key ends in `after`'s key order: the keys both hold come first and in
 * the same order, since an added key goes after the existing ones.
 */
function keepsKeyOrder(before: Record<string, unknown>, after: Record<string, unknown>): boolean {
  const keys = Object.keys(after).filter((key) => after[key] !== undefined)
  let i = 0
  for (const key of Object.keys(before)) {
    if (before[key] === undefined || !Object.hasOwn(after, key) || after[key] === undefined) continue
    if (keys[i++] !== key) return false
  }
  return true
}

/**
 * Why a list of recorded patches cannot be applied (returned, not thrown, so callers name their own file and line).
 */
export class PatchFailure {
  constructor(readonly reason: string) {}
}

/**
 * Applies recorded patches to a JSON value: the new value (sharing what the patches left alone), or a PatchFailure
 * when they are malformed or do not fit the value (a path that does not exist).
 * @example applyJsonPatches({ n: 1 }, [{ op: 'replace', path: ['n'], value: 2 }]) // { n: 2 }
 * @throws never.
 */
export function applyJsonPatches(base: unknown, patches: unknown): unknown {
  if (!Array.isArray(patches)) return new PatchFailure('patches are not a list')
  for (let i = 0; i < patches.length; i++) {
    const problem = malformed(patches[i])
    if (problem !== undefined) return new PatchFailure(`patch ${i + 1} ${problem}`)
  }
  try {
    return applyPatches(base as object, patches as Patch[])
  } catch (error) {
    return new PatchFailure(`patches do not apply to the previous value: ${(error as Error).message}`)
  }
}

function malformed(patch: unknown): string | undefined {
  if (!isRecord(patch)) return 'is not an object'
  if (patch.op !== 'add' && patch.op !== 'remove' && patch.op !== 'replace') return `has unknown op ${JSON.stringify(patch.op)}`
  const path = patch.path
  if (!Array.isArray(path) || !path.every((p) => typeof p === 'string' || (Number.isInteger(p) && p >= 0))) {
    return 'has a path that is not a list of keys and indexes'
  }
  if (patch.op !== 'remove' && !('value' in patch)) return `(${patch.op}) has no value`
  return undefined
}
