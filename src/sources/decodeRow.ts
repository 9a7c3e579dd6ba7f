import type { ErasedCodec } from '../plan/nodes.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'

/** A row that failed: where in the value (codec path) and why. */
export interface RowFailure {
  readonly codecPath: string
  readonly reason: string
}

/**
 * Parses and validates one row against its codec. Values that already satisfy the codec's type (`is`) are taken as
 * they are, which skips io-ts's allocation-heavy `decode` on the hot path; anything else goes through `decode`, so
 * transforming codecs (e.g. dates from strings) still work.
 */
export function decodeRow(codec: ErasedCodec, value: unknown): { ok: true; value: unknown } | ({ ok: false } & RowFailure) {
  if (codec.is(value)) return { ok: true, value }
  const r = codec.decode(value)
  if (r._tag === 'Right') return { ok: true, value: r.right }
  const { path, message } = describeIoTsErrors(r.left)
  return { ok: false, codecPath: path || '(root)', reason: `${message} (codec ${codec.name})` }
}
