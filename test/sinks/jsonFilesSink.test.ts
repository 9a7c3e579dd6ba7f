import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createSession, InvalidQueryError, jsonFilesSink, memorySource, readJsonFilesSink, trigger } from '../../src/index.js'

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

describe('jsonFilesSink: one directory, several queries', () => {
  it('refuses at start() a query other than the one that wrote the directory, naming both', async () => {
    const root = await tempDir()
    const out = join(root, 'out')
    const first = await writeRows(out, join(root, 'ckpt-1'), [1, 2])
    const error = await writeRows(out, join(root, 'ckpt-2'), [3, 4]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toContain(out)
    expect((error as Error).message).toContain(first.id)
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
})

describe('jsonFilesSink: manifest compaction', () => {
  async function openWriter(out: string, options?: { retentionMs?: number }) {
    const { nodeFs } = await import('../../src/index.js')
    return jsonFilesSink(out, options).open({ queryId: 'q1', queryName: undefined, checkpointLocation: '/unused', outputMode: 'append', fs: nodeFs })
  }

  it('folds its entries every 10 batches, still skips compacted batches, and reads every row', async () => {
    const out = join(await tempDir(), 'out')
    const writer = await openWriter(out)
    for (let b = 0; b < 25; b++) await writer.addBatch(b, [{ b }])
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(join(out, '_manifest'))).toEqual(['19.compact', '20', '21', '22', '23', '24'])
    const reopened = await openWriter(out)
    await reopened.addBatch(3, [{ b: 'again' }])
    expect(await readJsonFilesSink(out)).toEqual(Array.from({ length: 25 }, (_, b) => ({ b })))
  })

  it('drops entries older than its retention when compacting, so the manifest stays bounded', async () => {
    const out = join(await tempDir(), 'out')
    const writer = await openWriter(out, { retentionMs: 1500 })
    // Each batch a second after the last, on a clock the test sets: with the real one, whether an entry committed a
    // moment before the compaction counts as older than the retention depended on the disk's speed.
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      for (let b = 0; b < 12; b++) {
        vi.setSystemTime(1_000_000 + b * 1000)
        await writer.addBatch(b, [{ b }])
      }
    } finally {
      vi.useRealTimers()
    }
    // Compacted at batch 9 (time 9 s): batches 8 and 9 are within 1.5 s and kept, 0–7 are dropped.
    expect(await readJsonFilesSink(out)).toEqual([{ b: 8 }, { b: 9 }, { b: 10 }, { b: 11 }])
  })
})
