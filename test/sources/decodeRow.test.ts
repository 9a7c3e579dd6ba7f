/**
 * decodeRow: a row of the codec's type passes as it is, a row that decodes passes as decoded, and a failure names
 * where in the row and which codec.
 */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { decodeRow } from '../../src/sources/decodeRow.js'

/** A codec whose decoded value is not its input: a number from its decimal string. */
const NumberFromString = new t.Type<number, string, unknown>(
  'NumberFromString',
  (u): u is number => typeof u === 'number',
  (u, c) => (typeof u === 'string' && /^\d+$/.test(u) ? t.success(Number(u)) : t.failure(u, c)),
  String,
)

describe('decodeRow', () => {
  it('takes a value that already has the codec\'s type as it is', () => {
    const row = { id: 1 }
    const r = decodeRow(t.type({ id: t.number }), row)
    expect(r).toEqual({ ok: true, value: row })
    expect(r.ok && r.value).toBe(row)
  })

  it('gives the decoded value of a transforming codec, not its input', () => {
    expect(decodeRow(NumberFromString, '42')).toEqual({ ok: true, value: 42 })
  })

  it('names the failing field and the codec', () => {
    const Row = t.type({ id: t.number }, 'Row')
    expect(decodeRow(Row, { id: 'x' })).toEqual({ ok: false, codecPath: '.id', reason: 'expected number, got "x" (codec Row)' })
  })

  it('names the root when the whole value fails', () => {
    expect(decodeRow(NumberFromString, 'abc')).toEqual({
      ok: false,
      codecPath: '(root)',
      reason: 'expected NumberFromString, got "abc" (codec NumberFromString)',
    })
  })
})
