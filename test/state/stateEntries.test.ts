import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PatchedKey, readStateEntry, RemovedKey, writeStateEntry } from '../../src/state/stateEntries.js'
import type { EncodedEntry } from '../../src/state/stateStore.js'

const window = fc.tuple(fc.integer(), fc.integer())
const stored: fc.Arbitrary<EncodedEntry> = fc.record(
  { k: fc.jsonValue(), s: fc.jsonValue(), w: window, t: fc.integer() },
  { requiredKeys: ['k', 's'] },
)
const removed = fc.record({ k: fc.jsonValue(), w: fc.option(window, { nil: undefined }) }).map((r) => new RemovedKey(r.k, r.w))

describe('one state entry line', () => {
  it('reads back what was written, in a delta (upserts and removals) and in a snapshot', () => {
    fc.assert(
      fc.property(fc.oneof(stored, removed), (change) => {
        // JSON has no -0: what comes back is the value as JSON holds it.
        const asJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T
        const expected = change instanceof RemovedKey ? new RemovedKey(asJson(change.k), change.w) : asJson(change)
        const read = readStateEntry(JSON.parse(writeStateEntry(change, false)), false, true)
        expect(read).toStrictEqual(expected)
        if (!(change instanceof RemovedKey)) expect(readStateEntry(JSON.parse(writeStateEntry(change, true)), true, false)).toStrictEqual(expected)
      }),
      { numRuns: 300 },
    )
  })

  it('reads a patch line back in a file that may hold them, and not in a v1 file or a snapshot', () => {
    const patched = new PatchedKey('a', [{ op: 'replace', path: ['n'], value: 2 }], [0, 10], 5)
    const line = writeStateEntry(patched, false)
    expect(line).toBe('{"p":{"k":"a","w":[0,10],"t":5,"d":[{"op":"replace","path":["n"],"value":2}]}}')
    expect(readStateEntry(JSON.parse(line), false, true)).toStrictEqual(patched)
    expect(readStateEntry(JSON.parse(line), false, false)).toBeUndefined()
    expect(readStateEntry(JSON.parse(line), true, false)).toBeUndefined()
    expect(readStateEntry({ p: { k: 'a' } }, false, true)).toBeUndefined()
    expect(() => writeStateEntry(patched, true)).toThrow(RangeError)
  })

  it('refuses to write a removal or a patch into a snapshot, saying which', () => {
    expect(() => writeStateEntry(new RemovedKey('a'), true)).toThrow(new RangeError('a snapshot holds no removals'))
    expect(() => writeStateEntry(new PatchedKey('a', []), true)).toThrow(new RangeError('a snapshot holds no patches'))
  })

  it.each([
    ['a snapshot line without a state', { k: 'a' }, true],
    ['a snapshot line with a malformed window', { k: 'a', s: 1, w: [1] }, true],
    ['a snapshot line whose window has three bounds', { k: 'a', s: 1, w: [1, 2, 3] }, true],
    ['a snapshot line whose window starts with a string', { k: 'a', s: 1, w: ['1', 2] }, true],
    ['a snapshot line whose window ends with a string', { k: 'a', s: 1, w: [1, '2'] }, true],
    ['a snapshot line whose window is a two-letter string', { k: 'a', s: 1, w: 'ab' }, true],
    ['a delta removal whose window ends with a string', { r: { k: 'a', w: [1, '2'] } }, false],
    ['a snapshot line with a non-numeric timeout', { k: 'a', s: 1, t: 'soon' }, true],
    ['a delta line that is neither an upsert nor a removal', { x: 1 }, false],
    ['a delta removal without a key', { r: {} }, false],
    ['a delta upsert without a state', { u: { k: 'a' } }, false],
    ['null', null, false],
    ['a snapshot line that is null', null, true],
    ['a delta removal that is null', { r: null }, false],
    ['a delta patch that is null', { p: null }, false],
  ])('does not read %s as an entry', (_what, line, inSnapshot) => {
    expect(readStateEntry(line, inSnapshot, !inSnapshot)).toBeUndefined()
  })
})
