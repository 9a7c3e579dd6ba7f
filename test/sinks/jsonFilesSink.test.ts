import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type CheckpointFs,
  createSession,
  InvalidQueryError,
  jsonFilesSink,
  type JsonFilesSinkOptions,
  memorySource,
  nodeFs,
  readJsonFilesSink,
  type SinkContext,
  trigger,
} from '../../src/index.js'
import { writeCheckpointJson } from '../../src/durable/format.js'
import { SimulatedCrash } from '../../src/testing.js'

const created: string[] = []
afterEach(async () => {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-sink-'))
  created.push(dir)
  return dir
}

/** Runs a query of `rows` into `out` to the end, on its own checkpoint. */
async function writeRows(out: string, checkpointLocation: string | undefined, rows: number[], options?: { appendAsNewWriter?: boolean }) {
  const input = memorySource<{ v: number }>()
  input.addData(rows.map((v) => ({ v })))
  const q = await createSession()
    .readStream(input.source)
    .writeStream({ outputMode: 'append', sink: jsonFilesSink(out, options), checkpointLocation, trigger: trigger.availableNow() })
    .start()
  await q.awaitTermination()
  return q
}

/** Opens the sink as a checkpointed query `queryId` does (default `q1`), for one task of it when `task` is given. */
async function openWriter(
  out: string,
  options: JsonFilesSinkOptions & { queryId?: string; fs?: CheckpointFs; task?: SinkContext['task'] } = {},
) {
  const { queryId = 'q1', fs = nodeFs, task, ...sinkOptions } = options
  const context: SinkContext = { queryId, queryName: undefined, checkpointLocation: '/unused', outputMode: 'append', fs, task }
  return jsonFilesSink(out, sinkOptions).open(context)
}

/** Writes batches `from` to `to` (inclusive), each holding one row naming its writer and batch. */
async function writeBatches(writer: { addBatch(batchId: number, rows: unknown[]): Promise<void> }, who: string, from: number, to: number) {
  for (let b = from; b <= to; b++) await writer.addBatch(b, [{ [who]: b }])
}

/** The rows `writeBatches` writes for `who`, from `from` to `to`. */
function rowsOf(who: string, from: number, to: number): Record<string, number>[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ [who]: from + i }))
}

/**
 * nodeFs, except that the first `op` on a path ending in `name` fails before doing anything, and every write or
 * removal after it fails too: the process died there.
 */
function diesAt(op: 'writeFileAtomic' | 'remove', name: string): CheckpointFs {
  let dead = false
  const check = (called: string, path: string): void => {
    if (dead || (called === op && path.endsWith(name))) {
      dead = true
      throw new SimulatedCrash(`${called} ${path}`)
    }
  }
  return {
    ...nodeFs,
    writeFileAtomic: async (path, data) => {
      check('writeFileAtomic', path)
      return nodeFs.writeFileAtomic(path, data)
    },
    remove: async (path) => {
      check('remove', path)
      return nodeFs.remove(path)
    },
  }
}

describe('jsonFilesSink: one directory, several queries', () => {
  it('refuses at start() a query other than the one that wrote the directory, naming both and what to do', async () => {
    const root = await tempDir()
    const out = join(root, 'out')
    const first = await writeRows(out, join(root, 'ckpt-1'), [1, 2])
    const error = await writeRows(out, join(root, 'ckpt-2'), [3, 4]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toContain(out)
    expect((error as Error).message).toContain(first.id)
    expect((error as Error).message).toContain('Write to an empty directory')
    expect((error as Error).message).toContain('restart the other query on its own checkpoint')
    expect((error as Error).message).toContain('appendAsNewWriter')
    expect(await readJsonFilesSink(out)).toEqual([{ v: 1 }, { v: 2 }])
  })

  it('keeps the batches of a query that appends as a new writer apart, so none is skipped', async () => {
    const root = await tempDir()
    const out = join(root, 'out')
    await writeRows(out, join(root, 'ckpt-1'), [1, 2])
    await writeRows(out, join(root, 'ckpt-2'), [3, 4], { appendAsNewWriter: true })
    // Both restart on their own checkpoints and go on writing their own batches.
    await writeRows(out, join(root, 'ckpt-2'), [], { appendAsNewWriter: true })
    await writeRows(out, join(root, 'ckpt-1'), [])
    expect(await readJsonFilesSink(out)).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }, { v: 4 }])
  })

  it("keeps two queries' batches apart through both their compactions, and each reopens as itself", async () => {
    const out = join(await tempDir(), 'out')
    await writeBatches(await openWriter(out, { queryId: 'q' }), 'q', 0, 11)
    // r starts after q's first compaction and writes further than q, so its entries are the directory's latest.
    await writeBatches(await openWriter(out, { queryId: 'r', appendAsNewWriter: true }), 'r', 0, 14)
    // q restarts as the directory's owner, and its next compaction leaves r's entries where they are.
    await writeBatches(await openWriter(out, { queryId: 'q' }), 'q', 12, 19)
    expect(await readJsonFilesSink(out)).toEqual([...rowsOf('q', 0, 19), ...rowsOf('r', 0, 14)])
  })

  it('takes over a directory an older version wrote (entries without a query id), then refuses other queries', async () => {
    const out = join(await tempDir(), 'out')
    await cp(fileURLToPath(new URL('../fixtures/checkpoints/v1/jsonFiles/output', import.meta.url)), out, { recursive: true })
    const older = await readJsonFilesSink(out)
    expect(older).toHaveLength(3)
    // The query that ran on the older version restarts on its checkpoint and goes on at batch 3.
    const writer = await openWriter(out, { queryId: 'q' })
    await writeBatches(writer, 'q', 3, 3)
    await expect(openWriter(out, { queryId: 'other' })).rejects.toThrow(/holds the output of query q, and this is query other/)
    // Once the older entries are folded into its compaction, the directory is still q's.
    await writeBatches(writer, 'q', 4, 9)
    await expect(openWriter(out, { queryId: 'other' })).rejects.toThrow(/holds the output of query q, and this is query other/)
    expect(await readJsonFilesSink(out)).toEqual([...older, ...rowsOf('q', 3, 9)])
  })

  it('takes the owner of a compaction written before compactions named their query from its latest entry', async () => {
    // Made from the older version's directory above: query q wrote batches 3–9 into it with a version whose
    // compactions did not name their query. `_manifest/9.compact` lists 0–2 without a query id and 3–9 as q's.
    const out = join(await tempDir(), 'out')
    await cp(fileURLToPath(new URL('../fixtures/jsonFilesSink/compactedWithoutQueryId', import.meta.url)), out, { recursive: true })
    await expect(openWriter(out, { queryId: 'other' })).rejects.toThrow(/holds the output of query q, and this is query other/)
    await writeBatches(await openWriter(out, { queryId: 'q' }), 'q', 9, 10)
    expect((await readJsonFilesSink(out)).slice(3)).toEqual(rowsOf('q', 3, 10))
  })

  it('takes over a directory whose compaction an older version wrote empty and unnamed (retention dropped every entry)', async () => {
    // Nothing there names a query: the directory is taken as the older version's, so the query that ran on it can
    // restart on its checkpoint and go on.
    const out = join(await tempDir(), 'out')
    await mkdir(join(out, '_manifest'), { recursive: true })
    await writeCheckpointJson(nodeFs, join(out, '_manifest', '9.compact'), { upTo: 9, entries: [] })
    const writer = await openWriter(out, { queryId: 'q' })
    await writeBatches(writer, 'q', 9, 10)
    expect(await readJsonFilesSink(out)).toEqual(rowsOf('q', 10, 10))
  })

  it('lets the query that wrote the directory restart on its checkpoint', async () => {
    const root = await tempDir()
    const out = join(root, 'out')
    await writeRows(out, join(root, 'ckpt'), [1])
    await writeRows(out, join(root, 'ckpt'), [])
    expect(await readJsonFilesSink(out)).toEqual([{ v: 1 }])
  })

  it('says at start() that it needs a checkpoint location to be exactly-once', async () => {
    const root = await tempDir()
    const error = await writeRows(join(root, 'out'), undefined, [1]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toContain('checkpointLocation')
  })

  it('needs no checkpoint location when the batch ids never repeat (uniqueBatchIds)', async () => {
    const out = join(await tempDir(), 'out')
    const writer = await jsonFilesSink(out).open({ queryId: 'q', queryName: undefined, outputMode: 'append', fs: nodeFs, uniqueBatchIds: true })
    await writer.addBatch(1_700_000_000_000, [{ v: 1 }])
    expect(await readJsonFilesSink(out)).toEqual([{ v: 1 }])
  })
})

describe('jsonFilesSink: manifest compaction', () => {
  it('folds its entries every 10 batches, still skips compacted batches, and reads every row', async () => {
    const out = join(await tempDir(), 'out')
    const writer = await openWriter(out)
    for (let b = 0; b < 25; b++) await writer.addBatch(b, [{ b }])
    expect(await readdir(join(out, '_manifest'))).toEqual(['19.compact', '20', '21', '22', '23', '24'])
    const reopened = await openWriter(out)
    await reopened.addBatch(3, [{ b: 'again' }])
    // The compaction's own batch: its entry is gone, the compaction lists it.
    await reopened.addBatch(19, [{ b: 'again' }])
    expect(await readJsonFilesSink(out)).toEqual(Array.from({ length: 25 }, (_, b) => ({ b })))
  })

  /** Writes batches 0 to `last`, each a second after the one before on a clock the test sets. */
  async function writeOneASecond(out: string, last: number, options: { retentionMs: number; fs?: CheckpointFs }) {
    const writer = await openWriter(out, options)
    // With the real clock, whether an entry committed a moment before the compaction counts as older than the
    // retention depended on the disk's speed.
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      for (let b = 0; b <= last; b++) {
        vi.setSystemTime(1_000_000 + b * 1000)
        await writer.addBatch(b, [{ b }])
      }
    } finally {
      vi.useRealTimers()
    }
  }

  it('drops entries older than its retention when compacting, so the manifest stays bounded', async () => {
    const out = join(await tempDir(), 'out')
    await writeOneASecond(out, 11, { retentionMs: 1500 })
    // Compacted at batch 9 (time 9 s): batches 8 and 9 are within 1.5 s and kept, 0–7 are dropped.
    expect(await readJsonFilesSink(out)).toEqual([{ b: 8 }, { b: 9 }, { b: 10 }, { b: 11 }])
  })

  it('keeps an entry committed exactly its retention ago, and drops one a millisecond older', async () => {
    const exactly = join(await tempDir(), 'out')
    await writeOneASecond(exactly, 9, { retentionMs: 1000 })
    expect(await readJsonFilesSink(exactly)).toEqual([{ b: 8 }, { b: 9 }])
    const older = join(await tempDir(), 'out')
    await writeOneASecond(older, 9, { retentionMs: 999 })
    expect(await readJsonFilesSink(older)).toEqual([{ b: 9 }])
  })

  it('still names its query after retention left a compaction empty: another query is refused', async () => {
    const out = join(await tempDir(), 'out')
    // On a disk where every write takes a second, a retention of half a second leaves even the latest batch out.
    const slowDisk: CheckpointFs = {
      ...nodeFs,
      writeFileAtomic: async (path, data) => {
        vi.setSystemTime(Date.now() + 1000)
        return nodeFs.writeFileAtomic(path, data)
      },
    }
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      await writeBatches(await openWriter(out, { queryId: 'q', retentionMs: 500, fs: slowDisk }), 'q', 0, 9)
    } finally {
      vi.useRealTimers()
    }
    expect(await readdir(join(out, '_manifest'))).toEqual(['9.compact'])
    expect(await readJsonFilesSink(out)).toEqual([])
    // Taken for a directory of an older version, it let another query in, whose batches 0–9 were then skipped.
    await expect(openWriter(out, { queryId: 'other' })).rejects.toThrow(/holds the output of query q, and this is query other/)
    await writeBatches(await openWriter(out, { queryId: 'q' }), 'q', 10, 10)
    expect(await readJsonFilesSink(out)).toEqual(rowsOf('q', 10, 10))
  })

  it('reads batches in batch order after a crash kept a compaction from being written (entries 0 to 12)', async () => {
    const out = join(await tempDir(), 'out')
    const dying = await openWriter(out, { fs: diesAt('writeFileAtomic', '_manifest/9.compact') })
    await writeBatches(dying, 'b', 0, 8)
    await expect(dying.addBatch(9, [{ b: 9 }])).rejects.toBeInstanceOf(SimulatedCrash)
    // The restart re-runs batch 9, which its entry already commits, and goes on.
    await writeBatches(await openWriter(out), 'b', 9, 12)
    expect(await readdir(join(out, '_manifest'))).toHaveLength(13)
    expect(await readJsonFilesSink(out)).toEqual(rowsOf('b', 0, 12))
  })

  it('reads each batch once, as the latest compaction lists them, after a crash in the middle of a compaction', async () => {
    const out = join(await tempDir(), 'out')
    // The compaction at batch 29 is written; the crash comes at the first removal it makes (of the one at 19).
    await expect(writeOneASecond(out, 29, { retentionMs: 1500, fs: diesAt('remove', '_manifest/19.compact') })).rejects.toBeInstanceOf(
      SimulatedCrash,
    )
    expect(await readdir(join(out, '_manifest'))).toEqual(['19.compact', ...rowsOf('b', 20, 29).map((r) => String(r.b)), '29.compact'])
    // Retention dropped 20–27 from the latest compaction; the older one and the entries left beside it are not read.
    expect(await readJsonFilesSink(out)).toEqual([{ b: 28 }, { b: 29 }])
  })
})

describe('jsonFilesSink: tasks of a partitioned query', () => {
  /** Each of `tasks` tasks, opened from the last to the first, writes its batches 0 and 1. */
  async function writeTasks(out: string, tasks: number): Promise<void> {
    for (let task = tasks - 1; task >= 0; task--) {
      const writer = await openWriter(out, { task: { task, tasks } })
      await writer.addBatch(0, [{ task, b: 0 }])
      await writer.addBatch(1, [{ task, b: 1 }])
    }
  }

  it('writes each task into its own task-<p> directory and reads them back in task order (11 tasks)', async () => {
    const out = join(await tempDir(), 'out')
    await writeTasks(out, 11)
    expect((await readdir(out)).sort()).toEqual(Array.from({ length: 11 }, (_, p) => `task-${p}`).sort())
    const expected = Array.from({ length: 11 }, (_, task) => [{ task, b: 0 }, { task, b: 1 }]).flat()
    expect(await readJsonFilesSink(out)).toEqual(expected)
  })

  it('reads only task-<number> directories: copies of one under other names are not tasks', async () => {
    const out = join(await tempDir(), 'out')
    await writeTasks(out, 2)
    for (const copy of ['task-1.tmp', 'task-1 copy 2', 'task-x']) await cp(join(out, 'task-1'), join(out, copy), { recursive: true })
    expect(await readJsonFilesSink(out)).toEqual([{ task: 0, b: 0 }, { task: 0, b: 1 }, { task: 1, b: 0 }, { task: 1, b: 1 }])
  })
})
