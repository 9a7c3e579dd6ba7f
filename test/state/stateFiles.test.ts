import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { CheckpointCorruptedError, IncompatibleCheckpointError, nodeFs } from '../../src/index.js'
import { encodeCheckpointFile } from '../../src/durable/format.js'
import { PatchedKey } from '../../src/state/stateEntries.js'
import { loadState, operatorStateFiles } from '../../src/state/stateFiles.js'
import { removeV1PartitionDirs } from '../../src/state/stateFilesV1.js'
import { StateStore } from '../../src/state/stateStore.js'
import { keyIdOf } from '../../src/util/keys.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

const tempDir = useTempDir()
/** The state decoder of a codec that stores its values as they are. */
const asStored = () => (s: unknown) => s

/** A key codec that is not the identity: a day, stored as its ISO string. */
const Day = new t.Type<Date, string, unknown>(
  'Day',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.toISOString(),
)

function put(store: StateStore, key: unknown, value: unknown): void {
  store.put(keyIdOf(store.keyCodec.encode(key)), key, undefined, value)
}

/** Every key's value in a store, by encoded key. */
function values(store: StateStore): Record<string, unknown> {
  return Object.fromEntries([...store.values()].map((e) => [String(store.keyCodec.encode(e.key)), e.value]))
}

describe('state files in the v1 layout (a directory per partition)', () => {
  it('restore what was written, keep only the batches asked for after removeAfter, and need nothing purge removed', async () => {
    const dir = tempDir()
    const files = operatorStateFiles(nodeFs, dir, { formatVersion: 1, partitions: 12, stateVersion: 1 })
    const live = new StateStore('op', 12, t.string, t.number)
    const restored = async (version: number) => {
      const store = new StateStore('op', 12, t.string, t.number)
      await loadState(files, store, version, asStored, false)
      return values(store)
    }
    const names = async () => new Set((await Promise.all(Array.from({ length: 12 }, (_, p) => readdir(join(dir, String(p)))))).flat())
    for (const k of ['a', 'b', 'c', 'd']) put(live, k, 1)
    live.takeDeltas()
    await files.writeSnapshot(0, live.encodeAll())
    put(live, 'a', 2)
    live.remove(keyIdOf('b'))
    await files.writeDelta(1, live.takeDeltas())
    put(live, 'c', 3)
    await files.writeDelta(2, live.takeDeltas())
    expect(await restored(2)).toEqual({ a: 2, c: 3, d: 1 })
    await files.writeSnapshot(2, live.encodeAll())
    put(live, 'd', 4)
    await files.writeDelta(3, live.takeDeltas())
    await files.purge(2)
    expect(await names()).toEqual(new Set(['2.snapshot', '2.delta', '3.delta']))
    expect(await restored(3)).toEqual({ a: 2, c: 3, d: 4 })
    await files.removeAfter(2)
    expect(await names()).toEqual(new Set(['2.snapshot', '2.delta']))
    expect(await restored(3)).toEqual({ a: 2, c: 3, d: 1 })
  })

  it('refuse patch lines, which a v1 reader does not know, even when only one partition has them', async () => {
    const files = operatorStateFiles(nodeFs, tempDir(), { formatVersion: 1, partitions: 2, stateVersion: 1 })
    const whole = { partition: 1, upserts: [{ k: 'b', s: 1 }], patches: [], removes: [], removedWindows: [] }
    const patched = { partition: 0, upserts: [], patches: [new PatchedKey('a', [])], removes: [], removedWindows: [] }
    await expect(files.writeDelta(0, [whole, patched])).rejects.toThrow(new RangeError("format v1 state files hold no patch lines: write them with stateDeltas 'whole'"))
  })

  it('exist only for the formats that have a layout', () => {
    expect(() => operatorStateFiles(nodeFs, tempDir(), { formatVersion: 3, partitions: 2, stateVersion: 1 })).toThrow(
      new RangeError('no state file layout for checkpoint format v3'),
    )
  })

  it('of a checkpoint upgraded to v2 are removed, every partition directory and nothing else', async () => {
    const dir = tempDir()
    for (let p = 0; p < 12; p++) await mkdir(join(dir, String(p)))
    await writeFile(join(dir, '3.delta'), '')
    await removeV1PartitionDirs(nodeFs, [dir])
    expect(await readdir(dir)).toEqual(['3.delta'])
  })
})

describe('restoring state files', () => {
  /** Restores batch 0 from one hand-written state file, `name` (in a directory of its own) holding `body` in format `version`. */
  async function restoreFrom(name: string, body: string, version: number, windowed = false, keyCodec: t.Mixed = t.string) {
    const dir = join(tempDir(), 'restored')
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), encodeCheckpointFile(body, version))
    const files = operatorStateFiles(nodeFs, dir, { formatVersion: version, partitions: 8, stateVersion: 1 })
    const store = new StateStore('op', 8, keyCodec, t.number)
    const error = await rejectionOf(loadState(files, store, 0, asStored, windowed))
    return { error, path: join(dir, name) }
  }
  const v2 = (...lines: string[]) => ['{"stateVersion":1,"partitions":8}', ...lines].join('\n')

  it.each([
    ['a header with another partition count', '{"stateVersion":1,"partitions":4}', 'header says 4 partitions, the checkpoint has 8'],
    ['an entry before the first partition line', v2('{"u":{"k":"a","s":1}}'), 'line 2: entry before the first {"partition":i} line'],
    ['a partition that is a string', v2('{"partition":"1"}'), 'line 2: partition "1" is not one of 0..7'],
    ['a fractional partition', v2('{"partition":1.5}'), 'line 2: partition 1.5 is not one of 0..7'],
    ['a negative partition', v2('{"partition":-1}'), 'line 2: partition -1 is not one of 0..7'],
    ['a partition past the count', v2('{"partition":8}'), 'line 2: partition 8 is not one of 0..7'],
    ['a null line', v2('{"partition":0}', 'null'), 'line 3 is not a state entry'],
    ['a v2 line without its window in a windowed operator', v2('{"partition":0}', '{"u":{"k":"a","s":1}}'), 'line 3: missing window of a windowed operator'],
  ])('refuses %s in a v2 file, naming the file and line', async (what, body, reason) => {
    const { error, path } = await restoreFrom('0.delta', body, 2, what.includes('windowed'))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path, reason })
  })

  it('refuses a window on an entry of a non-windowed operator, and a patch line in a v1 file', async () => {
    const windowed = await restoreFrom('0.snapshot', v2('{"partition":0}', '{"k":"a","s":1,"w":[0,10]}'), 2)
    expect(windowed.error).toMatchObject({ path: windowed.path, reason: 'line 3: unexpected window of a non-windowed operator' })
    const patch = await restoreFrom(join('0', '0.delta'), '{"stateVersion":1}\n{"p":{"k":"a","d":[]}}', 1)
    expect(patch.error).toBeInstanceOf(CheckpointCorruptedError)
    expect(patch.error).toMatchObject({ path: patch.path, reason: 'line 2 is not a state entry' })
  })

  it('decodes keys through a key codec that is not the identity, and refuses a stored key it no longer decodes', async () => {
    const dir = tempDir()
    const files = operatorStateFiles(nodeFs, dir, { formatVersion: 2, partitions: 4, stateVersion: 1 })
    const live = new StateStore('op', 4, Day, t.number)
    const day = new Date('2026-12-01T00:00:00.000Z')
    put(live, day, 7)
    live.takeDeltas()
    await files.writeSnapshot(0, live.encodeAll())
    const restored = new StateStore('op', 4, Day, t.number)
    await loadState(files, restored, 0, asStored, false)
    expect([...restored.values()].map((e) => [e.key, e.value])).toEqual([[day, 7]])

    const { error, path } = await restoreFrom('0.delta', v2('{"partition":0}', '{"u":{"k":"someday","s":1}}'), 2, false, Day)
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as Error).message).toContain(`operator 'op': a key in ${path} (line 3) does not decode with key codec Day`)
    expect((error as Error).message).toContain('Keys cannot evolve; start the changed query on a new checkpoint location')
  })

  it('writes no file for a batch that changed nothing', async () => {
    const dir = tempDir()
    const files = operatorStateFiles(nodeFs, dir, { formatVersion: 2, partitions: 4, stateVersion: 1 })
    await files.writeDelta(5, [])
    expect(await readdir(dir).catch(() => [])).toEqual([])
  })
})

describe('a state store', () => {
  it('deep-freezes object state once a batch ends and when it is restored, so no one can change it behind its back', async () => {
    const dir = tempDir()
    const files = operatorStateFiles(nodeFs, dir, { formatVersion: 2, partitions: 2, stateVersion: 1 })
    const State = t.type({ tags: t.array(t.string) })
    const live = new StateStore('op', 2, t.string, State)
    put(live, 'a', { tags: ['x'] })
    await files.writeSnapshot(0, live.encodeAll())
    live.takeDeltas()
    const kept = live.get(keyIdOf('a'))!.value as { tags: string[] }
    expect(() => kept.tags.push('y')).toThrow(TypeError)
    const restored = new StateStore('op', 2, t.string, State)
    await loadState(files, restored, 0, asStored, false)
    const back = restored.get(keyIdOf('a'))!.value as { tags: string[] }
    expect(back).toEqual({ tags: ['x'] })
    expect(() => back.tags.push('y')).toThrow(TypeError)
  })

  it('not made to evict refuses evictUpTo naming its operator, and has no next expiry', () => {
    const store = new StateStore('sessions', 2, t.string, t.number)
    expect(() => store.evictUpTo(10)).toThrow(new Error("state of operator 'sessions' is not evicted by a watermark"))
    expect(store.nextExpiry).toBeUndefined()
  })

  it('refuses to persist a key JSON cannot carry, saying it is the key', () => {
    const store = new StateStore('op', 2, t.number, t.number)
    store.put('nan', Number.NaN, undefined, 1)
    expect(() => store.takeDeltas()).toThrow(/cannot be persisted: key: the value is NaN/)
  })
})
