import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyJsonPatches, diffJson, PatchFailure } from '../../src/state/patches.js'

/**
 * Values as a state codec may encode them: objects whose keys come from a small set (so two values share keys, in
 * any order) and may hold `undefined` (an optional field left unset), lists and numbers.
 */
const encoded: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: 0, max: 3 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.option(tie('value'), { nil: undefined, freq: 3 }), { maxKeys: 4 }),
  ),
})).value

/** The value as JSON holds it: keys whose value is undefined are gone. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe('diffJson', () => {
  it('treats a key whose value is undefined as absent, as JSON does: the same patches as between the values JSON holds', () => {
    fc.assert(
      fc.property(encoded, encoded, (before, after) => {
        const patches = diffJson(before, after, Infinity)
        expect(patches).toEqual(diffJson(asJson(before), asJson(after), Infinity))
        expect(applyJsonPatches(asJson(before), asJson(patches))).toEqual(asJson(after))
      }),
      { numRuns: 500 },
    )
  })

  it('gives no patches between equal values, however they were made', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        fc.pre(!/"(__proto__|constructor|prototype)"/.test(JSON.stringify(value)))
        expect(diffJson(asJson(value), asJson(value), 0)).toEqual([])
      }),
      { numRuns: 200 },
    )
  })

  it('records as a whole value a change where only the new value has a key immer will not patch through', () => {
    expect(diffJson({ a: 1 }, JSON.parse('{"a":1,"constructor":2}'), Infinity)).toBeUndefined()
    expect(diffJson(JSON.parse('{"a":1,"__proto__":2}'), { a: 1 }, Infinity)).toBeUndefined()
  })
})

describe('applyJsonPatches', () => {
  it.each([
    ['patches that are not a list', { op: 'add' }, 'patches are not a list'],
    ['a patch that is not an object', [null], 'patch 1 is not an object'],
    ['a patch of an unknown op', [{ op: 'add', path: ['a'], value: 1 }, { op: 'move', path: ['a'] }], 'patch 2 has unknown op "move"'],
    ['a path that is not a list', [{ op: 'remove', path: 'a' }], 'patch 1 has a path that is not a list of keys and indexes'],
    ['a negative index', [{ op: 'remove', path: ['a', -1] }], 'patch 1 has a path that is not a list of keys and indexes'],
    ['a fractional index', [{ op: 'remove', path: ['a', 1.5] }], 'patch 1 has a path that is not a list of keys and indexes'],
    ['a key that is neither a string nor a number', [{ op: 'remove', path: [true] }], 'patch 1 has a path that is not a list of keys and indexes'],
    ['an add without a value', [{ op: 'add', path: ['b'] }], 'patch 1 (add) has no value'],
    ['a replace without a value', [{ op: 'replace', path: ['a'] }], 'patch 1 (replace) has no value'],
  ])('refuses %s, saying which patch and why', (_what, patches, reason) => {
    const result = applyJsonPatches({ a: [1, 2] }, patches)
    expect(result).toBeInstanceOf(PatchFailure)
    expect((result as PatchFailure).reason).toBe(reason)
  })

  it('applies well-formed patches: a removal needs no value, a path may mix keys and indexes', () => {
    const patches = [{ op: 'remove', path: ['a', 1] }, { op: 'add', path: ['b'], value: { c: 0 } }, { op: 'replace', path: ['b', 'c'], value: 5 }]
    expect(applyJsonPatches({ a: [1, 2] }, patches)).toEqual({ a: [1], b: { c: 5 } })
    expect(applyJsonPatches({ a: [1, 2] }, [])).toEqual({ a: [1, 2] })
  })
})
