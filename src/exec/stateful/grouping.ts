import type { ErasedCodec, GroupByNode } from '../../plan/nodes.js'
import { keyIdOf } from '../../util/keys.js'
import { safeJson } from '../../util/text.js'
import { OperatorFailure } from '../../errors.js'
import { readEventTime } from '../eventTime.js'

/** The grouping of a keyed operator: extracts, validates and identifies keys (and windows) of rows. */
export class Grouping {
  readonly keyOf: (row: unknown) => unknown
  private readonly time: ((row: unknown) => unknown) | undefined

  constructor(
    readonly node: GroupByNode,
    readonly label: string,
    readonly keyCodec: ErasedCodec = node.keyCodec,
  ) {
    this.keyOf = node.keyOf as (row: unknown) => unknown
    this.time = node.window?.time as ((row: unknown) => unknown) | undefined
  }

  get windowed(): boolean {
    return this.node.window !== undefined
  }

  /** The key of a row, checked against the key codec. */
  keyOfRow(row: unknown): unknown {
    let key: unknown
    try {
      key = this.keyOf(row)
    } catch (e) {
      throw new OperatorFailure(this.label, e)
    }
    if (!this.keyCodec.is(key)) throw this.keyMismatch(key)
    return key
  }

  /** The error for a key that does not match the key codec. */
  keyMismatch(key: unknown): OperatorFailure {
    return new OperatorFailure(this.label, new TypeError(`key ${safeJson(key)} does not match the key codec ${this.keyCodec.name}`))
  }

  /** The stable id of a key: its encoded form. */
  idOf(key: unknown): string {
    return keyIdOf(this.keyCodec.encode(key))
  }

  /** The event time of a row (windowed groupings only), checked to be finite epoch ms. */
  timeOfRow(row: unknown): number {
    return readEventTime(this.time!, row, this.label)
  }

}

