import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as fc from 'fast-check'
import * as t from 'io-ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { IncompatibleCheckpointError } from '../../src/errors.js'
import { keyIdOf, windowedId } from '../../src/util/keys.js'
import { loadState, type OperatorStateFiles, operatorStateFiles, StateDecodeFailure } from '../../src/state/stateFiles.js'
import { type EncodedEntry, type StateEntry, StateStore } from '../../src/state/stateStore.js'
import { ColdTier } from '../../src/state/coldTier.js'

/** nodeFs, but every file is read in chunks of `size` bytes, so lines (and characters) span chunks. */
function chunked(size: number): CheckpointFs {
  return {
    ...nodeFs,
    async *readChunks(path: string) {
      const bytes = await nodeFs.readFile(path)
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
    },
  }
}

const State = t.type({ n: t.number, tags: t.array(t.string) })
type State = t.TypeOf<typeof State>
const Key = t.type({ user: t.string, shard: t.number })

/** What a restore must reproduce of an entry (not its batch bookkeeping). */
function visible(e: StateEntry) {
  return { id: e.id, key: e.key, window: e.window, partition: e.partition, value: e.value, timeoutAt: e.timeoutAt, durable: e.durable }
}
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
const sortedParts = (parts: EncodedEntry[][]) => parts.map((p) => p.map((e) => JSON.stringify(e)).sort())

/** One step against a store: put a state (with a timeout, or none), or remove the key. */
type Op = { key: number; window: number; remove: boolean; value: State; timeout: number | undefined }
const op = (keys: number): fc.Arbitrary<Op> =>
  fc.record({
    key: fc.nat(keys - 1),
    window: fc.nat(2),
    remove: fc.boolean(),
    value: fc.record({ n: fc.integer({ min: -5, max: 5 }), tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }) }),
    timeout: fc.option(fc.nat(1000), { nil: undefined }),
  })

interface Shape {
  readonly windowed: boolean
  /** The key of index i (strings of any characters, or objects). */
  readonly keyOf: (i: number) => unknown
  readonly keyCodec: t.Mixed
}

function apply(store: StateStore, shape: Shape, o: Op): void {
  const key = shape.keyOf(o.key)
  const window = shape.windowed ? { start: o.window * 10, end: o.window * 10 + 10 } : undefined
  const keyId = keyIdOf(shape.keyCodec.encode(key))
  const id = window ? windowedId(keyId, window) : keyId
  if (o.remove) store.remove(id)
  else store.put(id, key, window, o.value).timeoutAt = o.timeout
}

let root: string
let run = 0
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'srx-cold-restore-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Writes a snapshot of `first` (batch 0), then one delta per later batch; returns their directory. */
async function written(shape: Shape, first: readonly Op[], batches: readonly (readonly Op[])[], partitions: number): Promise<string> {
  const dir = join(root, String(run++))
  const files = operatorStateFiles(nodeFs, dir, { formatVersion: 2, partitions, stateVersion: 1 })
  const live = new StateStore('op', partitions, shape.keyCodec, State, true)
  for (const o of first) apply(live, shape, { ...o, remove: false })
  live.takeDeltas()
  await files.writeSnapshot(0, live.encodeAll())
  for (let b = 0; b < batches.length; b++) {
    for (const o of batches[b]!) apply(live, shape, o)
    await files.writeDelta(b + 1, live.takeDeltas())
  }
  return dir
}

const filesIn = (dir: string, partitions: number, fs: CheckpointFs = nodeFs): OperatorStateFiles =>
  operatorStateFiles(fs, dir, { formatVersion: 2, partitions, stateVersion: 1 })
const decodeState = (s: unknown) => (State.is(s) ? s : new StateDecodeFailure('not a State'))

async function restored(files: OperatorStateFiles, shape: Shape, version: number, partitions: number, cold: boolean): Promise<StateStore> {
  const store = new StateStore('op', partitions, shape.keyCodec, State, true)
  await loadState(files, store, version, () => decodeState, shape.windowed, cold ? 1 : undefined)
  return store
}

const shapes: Record<string, Shape> = {
  'string keys of any characters': { windowed: false, keyOf: (i) => ['', '\u0000x', 'é', '😀', 'a"b', `user-${i}`][i % 6] + String(i), keyCodec: t.string },
  'object keys in windows': { windowed: true, keyOf: (i) => ({ user: `u${i % 5}`, shard: i }), keyCodec: Key },
}

describe('a restore that keeps snapshot lines cold', () => {
  for (const [name, shape] of Object.entries(shapes)) {
    it(`for ${name}, holds what an eager restore holds, before and after further batches (lines cut across chunks)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op(40), { minLength: 1, maxLength: 40 }),
          fc.array(fc.array(op(40), { maxLength: 8 }), { maxLength: 3 }),
          fc.array(op(40), { maxLength: 12 }),
          fc.integer({ min: 1, max: 64 }),
          fc.integer({ min: 1, max: 4 }),
          async (first, batches, after, chunk, partitions) => {
            const reread = filesIn(await written(shape, first, batches, partitions), partitions, chunked(chunk))
            const eager = await restored(reread, shape, batches.length, partitions, false)
            const cold = await restored(reread, shape, batches.length, partitions, true)
            expect(cold.size).toBe(eager.size)
            expect(sortedParts(cold.encodeAll())).toEqual(sortedParts(eager.encodeAll()))
            for (const o of after) {
              apply(eager, shape, o)
              apply(cold, shape, o)
            }
            expect(cold.size).toBe(eager.size)
            const deltas = (s: StateStore) => s.takeDeltas().map((d) => ({ ...d, upserts: d.upserts.map((u) => JSON.stringify(u)).sort() }))
            expect(deltas(cold)).toEqual(deltas(eager))
            expect([...cold.values()].map(visible).sort(byId)).toEqual([...eager.values()].map(visible).sort(byId))
            expect(cold.entries.size).toBe(cold.size)
          },
        ),
        { numRuns: 100 },
      )
    })
  }

  it('makes an entry only of the keys reached, and counts the rest', async () => {
    const shape = shapes['string keys of any characters']!
    const first = Array.from({ length: 100 }, (_, i): Op => ({ key: i, window: 0, remove: false, value: { n: i, tags: [] }, timeout: undefined }))
    const files = filesIn(await written(shape, first, [], 4), 4)
    const store = await restored(files, shape, 0, 4, true)
    expect([store.size, store.entries.size]).toEqual([100, 0])
    expect(store.estimateMemoryBytes()).toBeGreaterThan(0)
    const id = keyIdOf(shape.keyOf(7))
    expect(store.get(id)?.value).toEqual({ n: 7, tags: [] })
    expect([store.size, store.entries.size]).toEqual([100, 1])
    expect(store.get(keyIdOf('absent'))).toBeUndefined()
    store.remove(keyIdOf(shape.keyOf(8)))
    expect([store.size, store.entries.size, store.numRowsRemoved]).toEqual([99, 1, 1])
  })

  it('lets a later line of a key replace an earlier one in the same snapshot, as an eager restore does', async () => {
    const dir = join(root, String(run++))
    const twice = [{ k: 'a', s: { n: 1, tags: [] } }, { k: 'b', s: { n: 2, tags: [] } }, { k: 'a', s: { n: 3, tags: [] } }]
    await filesIn(dir, 1).writeSnapshot(0, [twice])
    const shape = shapes['string keys of any characters']!
    const [eager, cold] = [await restored(filesIn(dir, 1), shape, 0, 1, false), await restored(filesIn(dir, 1), shape, 0, 1, true)]
    expect([cold.size, eager.size]).toEqual([2, 2])
    expect(cold.get('a')?.value).toEqual({ n: 3, tags: [] })
    expect([...cold.values()].map(visible).sort(byId)).toEqual([...eager.values()].map(visible).sort(byId))
  })

  it('restores every entry at once for a store the watermark evicts from', async () => {
    const shape = shapes['object keys in windows']!
    const first = Array.from({ length: 20 }, (_, i): Op => ({ key: i, window: i % 3, remove: false, value: { n: i, tags: [] }, timeout: undefined }))
    const files = filesIn(await written(shape, first, [], 2), 2)
    const store = new StateStore('op', 2, shape.keyCodec, State, true)
    store.evictsBy((e) => e.window!.end)
    await loadState(files, store, 0, () => (s) => s, true, 1)
    expect([store.size, store.entries.size]).toEqual([20, 20])
    expect(store.evictUpTo(10).length).toBe(7)
  })

  it('fails the restart on a line its codec no longer reads, with the error an eager restore gives', async () => {
    const shape = shapes['string keys of any characters']!
    const first = Array.from({ length: 5 }, (_, i): Op => ({ key: i, window: 0, remove: false, value: { n: i, tags: [] }, timeout: undefined }))
    const files = filesIn(await written(shape, first, [], 1), 1)
    const Changed = t.type({ n: t.string })
    const decode = (s: unknown) => (Changed.is(s) ? s : new StateDecodeFailure('n is not a string'))
    const restoreWith = (cold: boolean) =>
      loadState(files, new StateStore('op', 1, t.string, Changed), 0, () => decode, false, cold ? 1 : undefined).then(
        () => undefined,
        (error: unknown) => error,
      )
    const [eager, cold] = [await restoreWith(false), await restoreWith(true)]
    expect(cold).toBeInstanceOf(IncompatibleCheckpointError)
    expect((cold as Error).message).toBe((eager as Error).message)
    expect((cold as Error).message).toContain('(line 3)')
  })

  it('keeps every line when a file has more lines than its first lines promise (the line arrays grow)', async () => {
    const shape = shapes['string keys of any characters']!
    // 4,200 long lines, then 8,000 short ones: the count guessed from the first few thousand lines is far too low.
    const long = Array.from({ length: 20 }, (_, i) => `tag-${i}-xxxxxxxx`)
    const first = Array.from({ length: 12_200 }, (_, i): Op => ({ key: i, window: 0, remove: false, value: { n: i, tags: i < 4_200 ? long : [] }, timeout: undefined }))
    const dir = join(root, String(run++))
    const live = new StateStore('op', 1, shape.keyCodec, State, true)
    for (const o of first) apply(live, shape, o)
    await filesIn(dir, 1).writeSnapshot(0, live.encodeAll())
    const files = filesIn(dir, 1, chunked(4096))
    const [eager, cold] = [await restored(files, shape, 0, 1, false), await restored(files, shape, 0, 1, true)]
    expect([cold.size, cold.entries.size]).toEqual([12_200, 0])
    for (const i of [0, 4_199, 4_200, 9_876, 12_199]) expect(cold.get(keyIdOf(shape.keyOf(i)))?.value).toEqual(eager.get(keyIdOf(shape.keyOf(i)))?.value)
    expect(sortedParts(cold.encodeAll())).toEqual(sortedParts(eager.encodeAll()))
    expect([...cold.values()].map(visible).sort(byId)).toEqual([...eager.values()].map(visible).sort(byId))
  })

  it('gives each line back with its own line number and partition when a file says it is smaller than it is', () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => `{"k":"k${i}","s":${i}}`)
    const text = lines.join('\n')
    const applied = new Map<unknown, [number, number]>()
    const cold = new ColdTier()
    cold.openFile((item, lineNo, partition) => applied.set((item as { k: unknown }).k, [lineNo, partition]), 0)
    let start = 0
    for (let i = 0; i < lines.length; i++) {
      // A new partition every 1,000 lines, after a marker line that takes a line number.
      cold.add(`k${i}`, Math.floor(i / 1_000), i + 2 + Math.floor(i / 1_000), { text, start, end: start + lines[i]!.length })
      start += lines[i]!.length + 1
    }
    expect(cold.live).toBe(10_000)
    for (const i of [9_999, 0, 999, 1_000, 5_432]) expect(cold.take(`k${i}`)).toBe(true)
    cold.takeAll()
    expect(applied.size).toBe(10_000)
    for (let i = 0; i < 10_000; i++) expect(applied.get(`k${i}`)).toEqual([i + 2 + Math.floor(i / 1_000), Math.floor(i / 1_000)])
  })

  it('gives a cold line back with its partition, also past 65,535 partitions', () => {
    const text = '{"k":"a","s":1}\n{"k":"b","s":2}\n'
    const applied: [unknown, number, number][] = []
    const cold = new ColdTier()
    cold.openFile((item, lineNo, partition) => applied.push([item, lineNo, partition]), text.length)
    cold.add('a', 70_000, 1, { text, start: 0, end: 15 })
    cold.add('b', 3, 2, { text, start: 16, end: 31 })
    expect(cold.take('a')).toBe(true)
    expect(cold.take('b')).toBe(true)
    expect(applied).toEqual([[{ k: 'a', s: 1 }, 1, 70_000], [{ k: 'b', s: 2 }, 2, 3]])
  })
})
