/**
 * The jsonFiles source over files that are still being written, as a log tailer reads them: with `fileChanges:
 * 'readAppended'` a batch takes a file only up to its last newline, so a writer caught mid-line never splits a row
 * between two batches, and the offsets logged stay exact across restarts. And a file whose modification time is ahead
 * of the listing's clock (the same millisecond, or a writer's clock ahead) is read when no minimum age is asked for.
 */
import { appendFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { createSession, jsonFiles, type JsonFilesOptions, memorySink, nodeFs } from '../../src/index.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

const tempDir = useTempDirs()

/** Opens the source's reader the way a query with a checkpoint does (its log in `logDir`, a temp dir by default). */
async function openReader(dir: string, options: Partial<JsonFilesOptions<Row>>, logDir?: string) {
  const log = logDir ?? join(await tempDir('log'), 'sources', '0')
  const reader = await jsonFiles(dir, { codec: Row, ...options }).open({ fs: nodeFs, logDir: log, restarting: false })
  return { reader, logDir: log }
}

const tailing = { fileChanges: 'readAppended', minFileAgeMs: 0 } as const
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000)

describe("jsonFiles with fileChanges 'readAppended': a writer caught in the middle of a line", () => {
  it('leaves the unfinished line for the listing after its newline, and re-runs read exactly the logged bytes', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, '{"id":1}\n{"id"')
    const { reader, logDir } = await openReader(data, tailing)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    // Without badRecords a cut row would fail the batch; the batch holds only the finished line.
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    await reader.commit(0)
    expect(await reader.latestOffset(0, 'default')).toBe(0)
    await appendFile(file, ':2}\n{"id":3}\n{"i')
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    await appendFile(file, 'd":4}\n')
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 2 }, { id: 3 }])
    // A restart re-running both batches reads the same rows though the file has grown since.
    const again = await openReader(data, tailing, logDir)
    expect(await again.reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    expect(await again.reader.getBatch(0, 1)).toEqual([{ id: 2 }, { id: 3 }])
    expect(await again.reader.latestOffset(1, 'default')).toBe(2)
    expect(await again.reader.getBatch(1, 2)).toEqual([{ id: 4 }])
  })

  it('does not list a new file before its first line is finished', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), '{"id":1')
    const { reader } = await openReader(data, tailing)
    expect(await reader.latestOffset(-1, 'default')).toBe(-1)
    await appendFile(join(data, 'a.json'), '}\n')
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
  })

  it('reads a last line without a newline once the file is old enough to be done', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), '{"id":1}\n{"id":2}')
    const { reader } = await openReader(data, tailing)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    await reader.commit(0)
    await utimes(join(data, 'a.json'), minutesAgo(6), minutesAgo(6))
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 2 }])
    // With a minimum age, a file listed is old enough: its last line is read with the rest.
    const aged = await tempDir('data')
    await writeFile(join(aged, 'b.json'), '{"id":3}\n{"id":4}')
    await utimes(join(aged, 'b.json'), minutesAgo(1), minutesAgo(1))
    const withAge = await openReader(aged, { fileChanges: 'readAppended', minFileAgeMs: 1_000 })
    expect(await withAge.reader.latestOffset(-1, 'default')).toBe(0)
    expect(await withAge.reader.getBatch(-1, 0)).toEqual([{ id: 3 }, { id: 4 }])
  })

  it('gives a running query every row exactly once while the writer writes half lines', async () => {
    const data = await tempDir('data')
    const checkpoint = await tempDir('ckpt')
    const file = join(data, 'log.jsonl')
    const start = async (sink: ReturnType<typeof memorySink<Row>>) =>
      createSession()
        .readStream(jsonFiles(data, { codec: Row, ...tailing }))
        .writeStream({ outputMode: 'append', sink, checkpointLocation: checkpoint })
        .start()
    const sink = memorySink<Row>()
    let q = await start(sink)
    await writeFile(file, '')
    for (let id = 0; id < 6; id++) {
      await appendFile(file, `{"id":${id}`)
      await q.processAllAvailable()
      await appendFile(file, '}\n')
      await q.processAllAvailable()
      if (id === 2) {
        await q.stop()
        q = await start(sink)
      }
    }
    await q.stop()
    expect(sink.rows()).toEqual([0, 1, 2, 3, 4, 5].map((id) => ({ id })))
  })
})

describe('jsonFiles without a minimum file age', () => {
  it('reads a file whose modification time is ahead of the listing clock, and its appended bytes', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, '{"id":1}\n')
    const ahead = new Date(Date.now() + 60_000)
    await utimes(file, ahead, ahead)
    const plain = await openReader(data, {})
    expect(await plain.reader.latestOffset(-1, 'default')).toBe(0)
    const { reader } = await openReader(data, tailing)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    await reader.commit(0)
    await appendFile(file, '{"id":2}\n')
    await utimes(file, ahead, ahead)
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 2 }])
  })
})
