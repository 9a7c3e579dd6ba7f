import fc from 'fast-check'
import * as t from 'io-ts'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { arbitraryFromCodec, codecRoundTrip } from '../../laws/index.js'

/**
 * A second copy of io-ts, as an app gets when its io-ts is another version than the library's or the library is
 * installed as a link: the same code evaluated again, so every codec class is another class.
 */
function anotherIoTs(): typeof t {
  const require = createRequire(import.meta.url)
  const path = require.resolve('io-ts')
  const cached = require.cache[path]
  delete require.cache[path]
  try {
    return require(path) as typeof t
  } finally {
    if (cached !== undefined) require.cache[path] = cached
  }
}

describe('arbitraryFromCodec with codecs of another io-ts copy', () => {
  const t2 = anotherIoTs()

  it('the copy really has other classes', () => {
    expect(t2.number).not.toBeInstanceOf(t.NumberType)
    expect(t2.NumberType).not.toBe(t.NumberType)
  })

  it('derives values for every supported codec kind of the other copy', () => {
    const Everything = t2.type({
      n: t2.number,
      s: t2.string,
      b: t2.boolean,
      nil: t2.null,
      lit: t2.literal('x'),
      k: t2.keyof({ a: null, b: null }),
      opt: t2.partial({ p: t2.number }),
      exact: t2.exact(t2.type({ e: t2.string })),
      ro: t2.readonly(t2.type({ r: t2.number })),
      u: t2.union([t2.number, t2.string]),
      i: t2.intersection([t2.type({ a: t2.number }), t2.type({ b: t2.string })]),
      arr: t2.array(t2.number),
      roArr: t2.readonlyArray(t2.string),
      tup: t2.tuple([t2.number, t2.string]),
      dict: t2.record(t2.string, t2.number),
      int: t2.Int,
    })
    fc.assert(codecRoundTrip(Everything, arbitraryFromCodec(Everything)), { numRuns: 200 })
    fc.assert(fc.property(arbitraryFromCodec(Everything), (v) => Everything.is(v) && Number.isInteger(v.int)), { numRuns: 200 })
  })

  it('still names a codec it cannot derive values for', () => {
    expect(() => arbitraryFromCodec(t2.unknown)).toThrow(/cannot derive values for the codec unknown/)
  })
})
