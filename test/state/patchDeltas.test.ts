import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  CheckpointCorruptedError,
  CheckpointVersionError,
  createSession,
  foreachBatch,
  groupBy,
  mapGroupsWithState,
  memorySink,
  memorySource,
  nodeFs,
} from '../../src/index.js'
import { loadEncodedState } from '../../src/checkpoint/reader.js'
import { decodeCheckpointFile, encodeCheckpointFile } from '../../src/durable/format.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

type Click = { user: string; page: string }
const Session = t.type({ pages: t.array(t.string), total: t.number })
type Session = t.TypeOf<typeof Session>
const tempDir = useTempDir()

/** Per user: every page seen, appended through a draft. */
const sessions = () =>
  mapGroupsWithState<{ key: string; value: Click }, Session, Session, 'session'>({
    name: 'session',
    version: 1,
    state: Session,
    update: (_user, rows, state) => {
      if (!state.exists) state.update({ pages: [], total: 0 })
      state.update((draft) => {
        for (const r of rows) draft.pages.push(r.page)
        draft.total += rows.length
      })
      return state.get()
    },
  })

/** One source per test, shared by its runs: a restart resumes at the offsets its checkpoint committed. */
let input = memorySource<Click>()
beforeEach(() => {
  input = memorySource<Click>()
})

async function run(dir: string, batches: Click[][], sink = memorySink(), stateful = sessions) {
  const query = await createSession({ shufflePartitions: 1, snapshotInterval: 100 })
    .readStream(input.source)
    .pipe(groupBy((c: Click) => c.user, t.string), stateful())
    .writeStream({ outputMode: 'update', sink, checkpointLocation: dir })
    .start()
  for (const batch of batches) {
    input.addData(batch)
    await query.processAllAvailable()
  }
  await query.stop()
  return sink
}

const clicks = (user: string, ...pages: string[]): Click[] => pages.map((page) => ({ user, page }))
/** Enough pages that one more is cheaper to record as a patch than the whole list again. */
const many = Array.from({ length: 12 }, (_, i) => `https://example.com/page/${i}`)
const deltaPath = (dir: string, batchId: number) => join(dir, 'state', 'session', `${batchId}.delta`)

describe('patch deltas', () => {
  it('record a grown list as patches in a v2 delta, and a restart resolves them to the whole value', async () => {
    const dir = tempDir()
    await run(dir, [clicks('a', ...many), clicks('a', 'p13'), clicks('a', 'p14')])
    // Every file written is v2; whole values stay upsert lines, and only a changed object state becomes patches.
    const first = decodeCheckpointFile('0.delta', await readFile(deltaPath(dir, 0)))
    expect(first.version).toBe(2)
    expect(first.body.split('\n')[2]).toMatch(/^\{"u":\{"k":"a","s":/)
    expect(first.body).not.toContain('{"p":')
    const third = decodeCheckpointFile('2.delta', await readFile(deltaPath(dir, 2)))
    expect(third.version).toBe(2)
    expect(third.body.split('\n').slice(1, 3)).toEqual([
      '{"partition":0}',
      '{"p":{"k":"a","d":[{"op":"add","path":["pages",13],"value":"p14"},{"op":"replace","path":["total"],"value":14}]}}',
    ])
    const sink = await run(dir, [clicks('a', 'p15')])
    const all = [...many, 'p13', 'p14', 'p15']
    expect(sink.rows()).toEqual([{ key: 'a', session: { pages: all, total: 15 } }])
    const { partitions: [partition] } = await loadEncodedState(nodeFs, dir, 'session', 3, 1, 2)
    expect(partition!.entries.get('a')).toEqual({ k: 'a', s: { pages: all, total: 15 } })
  })

  it('are refused by a reader that predates them as a too-new format, not misread', async () => {
    const dir = tempDir()
    await run(dir, [clicks('a', ...many), clicks('a', 'p2')])
    const raw = await readFile(deltaPath(dir, 1))
    const v1Only = { 1: (body: string) => body }
    expect(() => decodeCheckpointFile(deltaPath(dir, 1), raw, v1Only)).toThrow(CheckpointVersionError)
    expect(() => decodeCheckpointFile(deltaPath(dir, 1), raw, v1Only)).toThrow(/has format v2.*reads formats up to v1/)
  })

  it('that yield a state the codec rejects fail the restart with CheckpointCorruptedError naming the file', async () => {
    const dir = tempDir()
    await run(dir, [clicks('a', ...many), clicks('a', 'p2')])
    const path = deltaPath(dir, 1)
    const body = decodeCheckpointFile(path, await readFile(path)).body.replace('"value":"p2"', '"value":42')
    await writeFile(path, encodeCheckpointFile(body, 2))
    const error = await rejectionOf(run(dir, [clicks('a', 'p3')]))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path })
    expect((error as Error).message).toMatch(/line 3: the patched state does not decode/)
  })

  it('that do not fit the previous state, or patch a key without state, are CheckpointCorruptedError', async () => {
    const dir = tempDir()
    await run(dir, [clicks('a', ...many), clicks('a', 'p2')])
    const path = deltaPath(dir, 1)
    const body = decodeCheckpointFile(path, await readFile(path)).body
    await writeFile(path, encodeCheckpointFile(body.replace('["pages",12]', '["missing",7,1]'), 2))
    expect(await rejectionOf(run(dir, []))).toMatchObject({ path, reason: expect.stringMatching(/do not apply/) })
    await writeFile(path, encodeCheckpointFile(body.replace('"k":"a"', '"k":"nobody"'), 2))
    const error = await rejectionOf(run(dir, []))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path, reason: expect.stringMatching(/key "nobody", which has no earlier state/) })
  })

  it('fall back to the whole value when the patches would be larger', async () => {
    const dir = tempDir()
    // Each batch replaces every page: patches would repeat the whole list with paths on top.
    await run(dir, [clicks('a', 'x', 'y'), clicks('a', 'z', 'w')], memorySink(), replacing)
    const second = decodeCheckpointFile('1.delta', await readFile(deltaPath(dir, 1)))
    expect(second.version).toBe(2)
    expect(second.body.split('\n').slice(1)).toEqual(['{"partition":0}', '{"u":{"k":"a","s":{"pages":["z","w"],"total":2}}}'])
    expect((await readdir(join(dir, 'state', 'session'))).filter((n) => /\.(delta|snapshot)$/.test(n)).sort()).toEqual(['0.delta', '1.delta'])
  })

  it('write a change needing more than 64 patches whole, though its patches are smaller than the value', async () => {
    const dir = tempDir()
    const long = Array.from({ length: 200 }, (_, i) => `https://example.com/catalogue/page/${String(i).padStart(4, '0')}`)
    const added = (from: number, n: number) => Array.from({ length: n }, (_, i) => `q${from + i}`)
    // 63 pages and the total are 64 patches; 64 pages and the total are 65. Both are far smaller than 200 long pages.
    const sink = await run(dir, [clicks('a', ...long), clicks('a', ...added(0, 63)), clicks('a', ...added(63, 64))])
    const line = async (batchId: number) => decodeCheckpointFile(`${batchId}.delta`, await readFile(deltaPath(dir, batchId))).body.split('\n')[2]!
    expect(JSON.parse(await line(1)).p.d).toHaveLength(64)
    const all = [...long, ...added(0, 127)]
    expect(JSON.parse(await line(2))).toEqual({ u: { k: 'a', s: { pages: all, total: 327 } } })
    expect(sink.rows().at(-1)).toEqual({ key: 'a', session: { pages: all, total: 327 } })
    const { partitions: [partition] } = await loadEncodedState(nodeFs, dir, 'session', 2, 1, 2)
    expect(partition!.entries.get('a')).toEqual({ k: 'a', s: { pages: all, total: 327 } })
  })

  it('write a state that shrank whole when its removals would be larger than the value left', async () => {
    const dir = tempDir()
    const long = Array.from({ length: 20 }, (_, i) => `https://example.com/catalogue/page/${String(i).padStart(4, '0')}`)
    // 19 removals (about 700 bytes of patches) against a value of about 80 bytes.
    await run(dir, [clicks('a', ...long), clicks('a', long[0]!)], memorySink(), replacing)
    const second = decodeCheckpointFile('1.delta', await readFile(deltaPath(dir, 1)))
    expect(second.body.split('\n').slice(1)).toEqual(['{"partition":0}', `{"u":{"k":"a","s":{"pages":["${long[0]}"],"total":1}}}`])
  })
})

/** A state per user that holds the pages of the latest batch only. */
const replacing = () =>
  mapGroupsWithState<{ key: string; value: Click }, Session, Session, 'session'>({
    name: 'session', version: 1, state: Session,
    update: (_u, rows, state) => {
      state.update({ pages: rows.map((r) => r.page), total: rows.length })
      return state.get()
    },
  })

describe('frozen state', () => {
  it('keeps a sink that edits its rows from changing the state, on this run and after a restart', async () => {
    const dir = tempDir()
    const edits: string[] = []
    const seen: Session[] = []
    const editing = foreachBatch((rows: { key: string; session: Session }[]) => {
      for (const row of rows) {
        try {
          row.session.pages.push('edited by the sink')
          edits.push('succeeded')
        } catch (error) {
          edits.push((error as Error).constructor.name)
        }
        seen.push(JSON.parse(JSON.stringify(row.session)) as Session)
      }
    })
    await run(dir, [clicks('a', 'p1'), clicks('a', 'p2')], editing as never)
    await run(dir, [clicks('a', 'p3')], editing as never)
    expect(edits).toEqual(['TypeError', 'TypeError', 'TypeError'])
    expect(seen).toEqual([
      { pages: ['p1'], total: 1 },
      { pages: ['p1', 'p2'], total: 2 },
      { pages: ['p1', 'p2', 'p3'], total: 3 },
    ])
  })

  it('throws at the line of user code that mutates the state it got', async () => {
    const dir = tempDir()
    const query = await createSession({ shufflePartitions: 1 })
      .readStream(input.source)
      .pipe(
        groupBy((c: Click) => c.user, t.string),
        mapGroupsWithState<{ key: string; value: Click }, Session, number, 'n'>({
          name: 'n', version: 1, state: Session,
          update: (_u, rows, state) => {
            if (state.exists) state.get().pages.push('sneaky')
            else state.update({ pages: rows.map((r) => r.page), total: rows.length })
            return 1
          },
        }),
      )
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: dir })
      .start()
    input.addData(clicks('a', 'p1'))
    await query.processAllAvailable()
    input.addData(clicks('a', 'p2'))
    const error = await rejectionOf(query.processAllAvailable())
    await query.stop().catch(() => undefined)
    expect(String((error as Error & { cause?: unknown }).cause ?? error)).toMatch(/TypeError: Cannot add property 1, object is not extensible/)
  })
})
