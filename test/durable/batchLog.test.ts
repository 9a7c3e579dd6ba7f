import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { BatchLog } from '../../src/durable/batchLog.js'
import { faultyFs } from '../../src/durable/faultFs.js'
import { writeCheckpointJson } from '../../src/durable/format.js'
import { nodeFs } from '../../src/durable/fs.js'
import { CheckpointCorruptedError } from '../../src/errors.js'
import { rejectionOf, thrownBy, useTempDir } from '../checkpoint/tempDir.js'

const Offsets = t.type({ sources: t.array(t.string) })
type Offsets = t.TypeOf<typeof Offsets>
const offsets = (...sources: string[]): Offsets => ({ sources })

/** Persists a Date as its epoch milliseconds, to see that the log stores `codec.encode(value)`. */
const DateFromMillis = new t.Type<Date, number, unknown>(
  'DateFromMillis',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'number' ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.getTime(),
)

describe('BatchLog', () => {
  const dir = useTempDir()
  const logIn = (root: string): BatchLog<Offsets> => new BatchLog(nodeFs, join(root, 'offsets'), Offsets)

  it('gets the value added for a batch', async () => {
    const log = logIn(dir())
    await log.add(0, offsets('a'))
    expect(await log.get(0)).toEqual(offsets('a'))
  })

  it('gets undefined for a batch never added, also before the directory exists', async () => {
    expect(await logIn(dir()).get(3)).toBeUndefined()
  })

  it('stores each batch as the checkpoint file <dir>/<batchId> holding the encoded value', async () => {
    const log = new BatchLog(nodeFs, join(dir(), 'commits'), DateFromMillis)
    await log.add(7, new Date(1000))
    expect(log.pathOf(7)).toBe(join(dir(), 'commits', '7'))
    expect((await fsp.readFile(log.pathOf(7), 'utf8')).split('\n')[2]).toBe('1000')
    expect(await log.get(7)).toEqual(new Date(1000))
  })

  it('replaces the value when a batch is added again', async () => {
    const log = logIn(dir())
    await log.add(0, offsets('a'))
    await log.add(0, offsets('b'))
    expect(await log.get(0)).toEqual(offsets('b'))
  })

  it('has no latest entry when empty', async () => {
    expect(await logIn(dir()).latest()).toBeUndefined()
  })

  it('latest is the highest batchId in numeric order', async () => {
    const log = logIn(dir())
    for (const id of [9, 10, 2]) await log.add(id, offsets(String(id)))
    expect(await log.latest()).toEqual({ batchId: 10, value: offsets('10') })
  })

  it('lists batchIds numerically, ignoring other names, non-canonical numbers and temp files', async () => {
    const log = logIn(dir())
    for (const id of [10, 2, 0]) await log.add(id, offsets())
    for (const name of ['007', 'notes', '3.delta', '-1', '1e3']) await fsp.writeFile(join(log.dir, name), '')
    await rejectionOf(new BatchLog(faultyFs(nodeFs, { at: 0, kind: 'tornWrite' }), log.dir, Offsets).add(11, offsets()))
    expect(await log.batchIds()).toEqual([0, 2, 10])
  })

  it('purgeBefore removes the entries below the given batchId and keeps the rest', async () => {
    const log = logIn(dir())
    for (const id of [0, 1, 2, 3, 4]) await log.add(id, offsets())
    await log.purgeBefore(3)
    expect(await log.batchIds()).toEqual([3, 4])
    expect(await log.get(1)).toBeUndefined()
  })

  it('a corrupt entry is CheckpointCorruptedError naming its file', async () => {
    const log = logIn(dir())
    await log.add(5, offsets('a'))
    const bytes = await fsp.readFile(log.pathOf(5))
    await fsp.writeFile(log.pathOf(5), bytes.subarray(0, bytes.length - 1))
    const error = await rejectionOf(log.get(5))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path: log.pathOf(5) })
  })

  it('an entry failing its codec is CheckpointCorruptedError naming the file and the codec path', async () => {
    const log = logIn(dir())
    await writeCheckpointJson(nodeFs, log.pathOf(1), { sources: ['a', 2] })
    expect(await rejectionOf(log.get(1))).toMatchObject({
      path: log.pathOf(1),
      reason: '.sources[1]: expected string, got 2',
    })
  })

  it('a corrupt latest entry is an error, not skipped in favour of an older one', async () => {
    const log = logIn(dir())
    await log.add(0, offsets('a'))
    await fsp.writeFile(log.pathOf(1), 'garbage')
    expect(await rejectionOf(log.latest())).toBeInstanceOf(CheckpointCorruptedError)
  })

  it('rejects batchIds that are not non-negative integers', () => {
    const log = logIn(dir())
    for (const bad of [-1, 1.5, Number.NaN]) expect(thrownBy(() => log.pathOf(bad))).toBeInstanceOf(RangeError)
  })

  it('behaves like a map from batchId to value under any sequence of add and purgeBefore', async () => {
    const command = fc.oneof(
      fc.record({ op: fc.constant('add' as const), batchId: fc.nat(30), value: fc.array(fc.string(), { maxLength: 3 }) }),
      fc.record({ op: fc.constant('purgeBefore' as const), batchId: fc.nat(30) }),
    )
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 8 }), async (commands) => {
        const log = logIn(join(dir(), `run-${run++}`))
        const model = new Map<number, Offsets>()
        for (const c of commands) {
          if (c.op === 'add') {
            await log.add(c.batchId, offsets(...c.value))
            model.set(c.batchId, offsets(...c.value))
          } else {
            await log.purgeBefore(c.batchId)
            for (const id of model.keys()) if (id < c.batchId) model.delete(id)
          }
        }
        const ids = [...model.keys()].sort((a, b) => a - b)
        expect(await log.batchIds()).toEqual(ids)
        for (const id of ids) expect(await log.get(id)).toEqual(model.get(id))
        const last = ids.at(-1)
        expect(await log.latest()).toEqual(last === undefined ? undefined : { batchId: last, value: model.get(last) })
      }),
      { numRuns: 100 },
    )
  })
})
