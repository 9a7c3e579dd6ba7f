import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { describeIoTsErrors } from '../../src/util/ioTsErrors.js'

function describeFailure<A>(codec: t.Type<A, unknown, unknown>, value: unknown): ReturnType<typeof describeIoTsErrors> {
  const result = codec.decode(value)
  if (result._tag === 'Right') throw new Error('expected the value to fail its codec')
  return describeIoTsErrors(result.left)
}

describe('describeIoTsErrors', () => {
  it('names a field path and what was expected and found', () => {
    expect(describeFailure(t.type({ batchWatermarkMs: t.number }), { batchWatermarkMs: 'x' })).toEqual({
      path: '.batchWatermarkMs',
      message: 'expected number, got "x"',
    })
  })

  it('writes nested fields with dots and array indexes in brackets', () => {
    const codec = t.type({ a: t.type({ b: t.array(t.number) }) })
    expect(describeFailure(codec, { a: { b: [1, 2, null] } })).toEqual({ path: '.a.b[2]', message: 'expected number, got null' })
  })

  it('quotes keys that are not identifiers', () => {
    expect(describeFailure(t.record(t.string, t.number), { 'user-1': true }).path).toBe('["user-1"]')
  })

  it('uses an empty path for the root value', () => {
    expect(describeFailure(t.string, 5)).toEqual({ path: '', message: 'expected string, got 5' })
  })

  it('does not count union members as steps, and expects the whole union', () => {
    const codec = t.type({ name: t.union([t.string, t.null]) })
    expect(describeFailure(codec, { name: 5 })).toEqual({ path: '.name', message: 'expected (string | null), got 5' })
  })

  it('follows a failing union member into its fields', () => {
    const codec = t.union([t.type({ kind: t.literal('a'), n: t.number }), t.type({ kind: t.literal('b') })])
    expect(describeFailure(codec, { kind: 'a', n: 'one' }).path).toBe('.n')
  })

  it('says a missing field is undefined', () => {
    expect(describeFailure(t.type({ id: t.string }), {}).message).toBe('expected string, got undefined')
  })

  it('counts the other failing fields', () => {
    const codec = t.type({ a: t.number, b: t.number, c: t.number })
    expect(describeFailure(codec, { a: '1', b: '2', c: '3' }).message).toBe('expected number, got "1" (and 2 more invalid fields)')
  })

  it('shortens long values', () => {
    expect(describeFailure(t.number, 'x'.repeat(500)).message).toMatch(/^expected number, got "x{59}…$/)
  })
  it('does not count intersection members as steps either', () => {
    const codec = t.intersection([t.type({ a: t.number }), t.type({ b: t.string })])
    expect(describeFailure(codec, { a: 1, b: 2 })).toEqual({ path: '.b', message: 'expected string, got 2' })
  })

  it('shows a BigInt, a function and a value of exactly 60 characters as they are, and one other failing field singular', () => {
    expect(describeFailure(t.type({ a: t.number }), { a: 'x' }).message).toBe('expected number, got "x"')
    expect(describeFailure(t.number, 10n).message).toBe('expected number, got 10n')
    expect(describeFailure(t.number, () => 1).message).toBe('expected number, got a function')
    expect(describeFailure(t.number, 'y'.repeat(58)).message).toBe(`expected number, got "${'y'.repeat(58)}"`)
    expect(describeFailure(t.type({ a: t.number, b: t.number }), { a: '1', b: '2' }).message).toBe('expected number, got "1" (and 1 more invalid field)')
  })

  it('describes an empty list of errors as an invalid value at the root', () => {
    expect(describeIoTsErrors([])).toEqual({ path: '', message: 'invalid value' })
  })
})
