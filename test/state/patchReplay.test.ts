import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as fc from 'fast-check'
import { produce } from 'immer'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { arbitraryFromCodec } from '../../laws/codecs.js'
import { nodeFs } from '../../src/index.js'
import { applyJsonPatches, diffJson } from '../../src/state/patches.js'
import { loadState, operatorStateFiles } from '../../src/state/stateFiles.js'
import { StateStore } from '../../src/state/stateStore.js'

/** io-ts state shapes: scalars, lists, records, optional fields, dictionaries and nullable unions, nested. */
const shapes: fc.Arbitrary<t.Mixed> = fc.letrec<{ shape: t.Mixed }>((tie) => ({
  shape: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<t.Mixed>(t.number, t.string, t.boolean),
    tie('shape').map((c) => t.array(c) as t.Mixed),
    fc.dictionary(fc.constantFrom('a', 'b', 'events', 'n', 'x y'), tie('shape'), { minKeys: 1, maxKeys: 4 }).map((p) => t.type(p) as t.Mixed),
    fc.dictionary(fc.constantFrom('opt', 'more'), tie('shape'), { minKeys: 1, maxKeys: 2 }).map((p) => t.partial(p) as t.Mixed),
    tie('shape').map((c) => t.record(t.string, c) as t.Mixed),
    tie('shape').map((c) => t.union([c, t.null]) as t.Mixed),
  ),
})).shape

const valuesOf = (codec: t.Mixed) => arbitraryFromCodec(codec, { number: fc.integer({ min: -1000, max: 1000 }) })

/**
 * A next state as user code makes one: mostly a draft edit of the previous state that keeps the untouched parts
 * (the top-level fields of a fresh value copied into a few places, or the whole value replaced).
 */
function nextState(previous: unknown, fresh: unknown, how: number): unknown {
  if (how === 0 || typeof previous !== 'object' || previous === null || typeof fresh !== 'object' || fresh === null) return fresh
  if (Array.isArray(previous) && Array.isArray(fresh)) {
    return produce(previous, (draft: unknown[]) => {
      for (let i = 0; i < Math.min(draft.length, fresh.length); i++) if ((i + how) % 2 === 0) draft[i] = fresh[i]
      if (how === 3) draft.splice(0, 1)
      else draft.push(...fresh.slice(0, how))
    })
  }
  if (Array.isArray(previous) || Array.isArray(fresh)) return fresh
  return produce(previous, (draft: Record<string, unknown>) => {
    const keys = Object.keys(fresh)
    for (let i = 0; i < keys.length; i++) {
      // A dictionary may hold a key named `__proto__`; assigning it on a draft would set the prototype, which immer
      // refuses (user code cannot write that key through a draft either), so it keeps its previous value.
      if ((i + how) % 2 === 0 && keys[i] !== '__proto__') draft[keys[i]!] = (fresh as Record<string, unknown>)[keys[i]!]
    }
    // Keys the fresh value lacks are optional (partial) or dictionary keys: dropping one keeps the value valid.
    for (const key of Object.keys(draft)) if (how === 2 && !(key in fresh)) delete draft[key]
  })
}

describe('patch deltas replay to the live state', () => {
  it('applying the patches between two JSON values to the first yields the second', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(!/"(__proto__|constructor|prototype)"/.test(JSON.stringify([a, b])))
        const canonicalA = JSON.parse(JSON.stringify(a)) as unknown
        const canonicalB = JSON.parse(JSON.stringify(b)) as unknown
        const patches = diffJson(canonicalA, canonicalB, Infinity)!
        const roundTripped = JSON.parse(JSON.stringify(patches)) as unknown
        expect(applyJsonPatches(canonicalA, roundTripped)).toEqual(canonicalB)
      }),
      { numRuns: 500 },
    )
  })

  it('gives the patches when at most maxPatches are needed, and nothing when more are', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(!/"(__proto__|constructor|prototype)"/.test(JSON.stringify([a, b])))
        const [before, after] = JSON.parse(JSON.stringify([a, b])) as [unknown, unknown]
        const all = diffJson(before, after, Infinity)!
        expect(diffJson(before, after, all.length)).toEqual(all)
        if (all.length > 0) expect(diffJson(before, after, all.length - 1)).toBeUndefined()
      }),
      { numRuns: 500 },
    )
  })

  it('restores an object whose keys changed order with that order, not the order patches would add them in', () => {
    const before = { events: { opt: {} }, n: 0 }
    for (const after of [{ events: { more: {}, opt: {} }, n: 0 }, { n: 1, events: { opt: {} } }]) {
      const restored = applyJsonPatches(before, diffJson(before, after, Infinity))
      expect(JSON.stringify(restored)).toBe(JSON.stringify(after))
    }
  })

  it('records a change under a key immer will not patch through (constructor, __proto__) as no patches at all', () => {
    const before = JSON.parse('{"m":{"constructor":1,"__proto__":2}}') as unknown
    const after = JSON.parse('{"m":{"constructor":3,"__proto__":2}}') as unknown
    expect(diffJson(before, after, Infinity)).toBeUndefined()
    expect(diffJson({ a: 1 }, { a: 2 }, 0)).toBeUndefined()
  })

  it('for generated state shapes, restoring snapshot + patch deltas yields the live value', async () => {
    const root = await mkdtemp(join(tmpdir(), 'srx-patch-replay-'))
    let run = 0
    try {
      await fc.assert(
        fc.asyncProperty(
          shapes.chain((codec) =>
            fc.tuple(fc.constant(codec), valuesOf(codec), fc.array(fc.tuple(valuesOf(codec), fc.nat(3)), { minLength: 1, maxLength: 6 })),
          ),
          async ([codec, first, steps]) => {
            const dir = join(root, String(run++))
            const live = new StateStore('s', 1, t.string, codec, true)
            const files = operatorStateFiles(nodeFs, dir, { formatVersion: 2, partitions: 1, stateVersion: 1 })
            let value: unknown = first
            const write = async (batchId: number) => {
              await files.writeDelta(batchId, live.takeDeltas())
            }
            live.put('k', 'k', undefined, value)
            await files.writeSnapshot(0, [[live.encode(live.get('k')!)]])
            live.takeDeltas()
            for (let i = 0; i < steps.length; i++) {
              value = nextState(value, steps[i]![0], steps[i]![1])
              live.put('k', 'k', undefined, value)
              await write(i + 1)
            }
            const restored = new StateStore('s', 1, t.string, codec, true)
            await loadState(files, restored, steps.length, () => (s) => s, false)
            expect(JSON.stringify(restored.get('k')?.value)).toBe(JSON.stringify(value))
          },
        ),
        { numRuns: 150 },
      )
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
