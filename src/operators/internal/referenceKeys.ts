import type { ErasedCodec } from '../../plan/nodes.js'
import { keyIdOf } from '../../util/keys.js'

/** Carries, on a grouped row of the RxJS reference, the identity the incremental plan gives its key. */
export const KEY_ID = Symbol.for('structured-rx.keyId')

/**
 * The key's identity in the reference semantics: the same as in the incremental plan (its codec-encoded form), and
 * validated against the codec the same way, so both agree on which rows form a group and on which keys fail.
 * @throws TypeError when the key does not match its codec.
 */
export function referenceKeyId(key: unknown, codec: ErasedCodec, operator: string): string {
  if (!codec.is(key)) throw new TypeError(`${operator}: key ${JSON.stringify(key)} does not match the key codec ${codec.name}`)
  return keyIdOf(codec.encode(key))
}

/** The key identity a reference grouped row carries. */
export function keyIdOfGrouped(g: object): string {
  const id = (g as { [KEY_ID]?: string })[KEY_ID]
  if (id === undefined) throw new TypeError('an aggregation or mapGroupsWithState must follow groupBy(keyOf, keyCodec)')
  return id
}
