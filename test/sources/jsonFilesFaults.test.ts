/**
 * The jsonFiles source on an operator's bad day: files that grow, vanish or are still being written, a mistyped
 * directory, bytes that are not UTF-8, a backlog larger than a sane batch.
 */
import { appendFile, mkdir, readdir, readFile, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { decodeCheckpointFile } from '../../src/durable/format.js'
import {
  BadRecordError,
  createSession,
  jsonFiles,
  memorySink,
  nodeFs,
  PathNotFoundError,
  SourceFileChangedError,
  StreamingQueryError,
  trigger,
  type JsonFilesOptions,
} from '../../src/index.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

const tempDir = useTempDirs()
const lines = (ids: number[]) => ids.map((id) => JSON.stringify({ id })).join('\n') + '\n'

/** Opens the source's reader the way a query with a checkpoint does, its log in a temp dir. */
async function openReader(dir: string, options: Partial<JsonFilesOptions<Row>> = {}, logDir?: string) {
  const log = logDir ?? join(await tempDir('log'), 'sources', '0')
  const reader = await jsonFiles(dir, { codec: Row, ...options }).open({ fs: nodeFs, logDir: log, restarting: false })
  return { reader, logDir: log }
}

async function runOnce(dir: string, options: Partial<JsonFilesOptions<Row>> = {}) {
  const sink = memorySink<Row>()
  const q = await createSession()
    .readStream(jsonFiles(dir, { codec: Row, ...options }))
    .writeStream({ outputMode: 'append', sink, trigger: trigger.availableNow() })
    .start()
  const error = await q.awaitTermination().then(() => undefined, (e: unknown) => e)
  return { q, sink, error }
}

describe('jsonFiles: files that change after they were listed', () => {
  it('fails the batch naming a file that grew after it was logged, instead of reading whatever is there', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1, 2]))
    const { reader } = await openReader(data)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    await appendFile(join(data, 'a.json'), lines([3]))
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect((error as SourceFileChangedError).path).toBe(join(data, 'a.json'))
    expect((error as Error).message).toMatch(/rename|fileChanges/)
  })

  it('fails the next listing naming a file that grew after its batch was read (a writer that was not done)', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), '{"id":1}\n{"id"')
    const { reader } = await openReader(data, { badRecords: { path: await tempDir('dead') } })
    await reader.latestOffset(-1, 'default')
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    await reader.commit(0)
    await appendFile(join(data, 'a.json'), ':2}\n')
    const error = await reader.latestOffset(0, 'default').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect((error as SourceFileChangedError).path).toBe(join(data, 'a.json'))
  })

  it("with fileChanges 'readAppended' reads the logged bytes in their batch and the appended ones as a new version", async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1, 2]))
    const { reader, logDir } = await openReader(data, { fileChanges: 'readAppended' })
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    await appendFile(join(data, 'a.json'), lines([3]))
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }, { id: 2 }])
    await reader.commit(0)
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 3 }])
    // A restart re-running batch 1 reads exactly the same bytes, even after the file grew again.
    await appendFile(join(data, 'a.json'), lines([4]))
    const again = await openReader(data, { fileChanges: 'readAppended' }, logDir)
    expect(await again.reader.getBatch(0, 1)).toEqual([{ id: 3 }])
  })

  it('ignores files younger than minFileAgeMs until they are old enough', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1]))
    const { reader } = await openReader(data, { minFileAgeMs: 60_000 })
    expect(await reader.latestOffset(-1, 'default')).toBe(-1)
    const past = new Date(Date.now() - 120_000)
    await utimes(join(data, 'a.json'), past, past)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
  })

  it('never reads files whose name matches ignoreFiles, nor names starting with _ or .', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1]))
    await writeFile(join(data, 'b.inprogress.json'), lines([2]))
    await writeFile(join(data, '_c.json'), lines([3]))
    await writeFile(join(data, '.d.json'), lines([4]))
    const { sink } = await runOnce(data, { ignoreFiles: /\.inprogress\./ })
    expect(sink.rows()).toEqual([{ id: 1 }])
  })
})

describe('jsonFiles: a source directory that does not exist', () => {
  it('is refused at start() with an error naming the path', async () => {
    const missing = join(await tempDir('parent'), 'activty-data')
    const error = await createSession()
      .readStream(jsonFiles(missing, { codec: Row }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.availableNow() })
      .start()
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PathNotFoundError)
    expect((error as PathNotFoundError).path).toBe(missing)
    expect((error as Error).message).toContain('waitForDirectory')
  })

  it('is waited for with waitForDirectory, and read once it appears', async () => {
    const later = join(await tempDir('parent'), 'later')
    const sink = memorySink<Row>()
    const q = await createSession()
      .readStream(jsonFiles(later, { codec: Row, waitForDirectory: true }))
      .writeStream({ outputMode: 'append', sink })
      .start()
    await q.processAllAvailable()
    await mkdir(later)
    await writeFile(join(later, 'a.json'), lines([7]))
    await q.processAllAvailable()
    await q.stop()
    expect(sink.rows()).toEqual([{ id: 7 }])
  })
})

describe('jsonFiles: UTF-8', () => {
  it('treats a line that is not valid UTF-8 as a bad record naming file and line', async () => {
    const data = await tempDir('data')
    const bad = Buffer.concat([Buffer.from(lines([1])), Buffer.from('{"id":2,"s":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')])
    await writeFile(join(data, 'a.json'), bad)
    const { error } = await runOnce(data, { codec: t.type({ id: t.number }) as never })
    expect(error).toBeInstanceOf(StreamingQueryError)
    const cause = (error as StreamingQueryError).cause
    expect(cause).toBeInstanceOf(BadRecordError)
    expect(cause).toMatchObject({ file: join(data, 'a.json'), line: 2 })
    expect((cause as Error).message).toMatch(/UTF-8/)
  })

  it('sends a line that is not valid UTF-8 to the dead-letter directory when badRecords is set', async () => {
    const data = await tempDir('data')
    const dead = await tempDir('dead')
    await writeFile(join(data, 'a.json'), Buffer.concat([Buffer.from('{"id":1}\n{"id":2,"s":"\xff'), Buffer.from([0xff]), Buffer.from('"}\n{"id":3}\n')]))
    const { sink } = await runOnce(data, { badRecords: { path: dead } })
    expect(sink.rows()).toEqual([{ id: 1 }, { id: 3 }])
    const [file] = await readdir(dead)
    const record = JSON.parse((await readFile(join(dead, file!), 'utf8')).trim()) as { line: number; reason: string }
    expect(record.line).toBe(2)
    expect(record.reason).toMatch(/UTF-8/)
  })

  it('skips a leading byte-order mark', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines([1, 2]))]))
    const { sink, error } = await runOnce(data)
    expect(error).toBeUndefined()
    expect(sink.rows()).toEqual([{ id: 1 }, { id: 2 }])
  })
})

describe('jsonFiles: large backlogs', () => {
  it('reads a backlog in batches of at most 1000 files by default', async () => {
    const data = await tempDir('data')
    await Promise.all(Array.from({ length: 1200 }, (_, i) => writeFile(join(data, `f-${String(i).padStart(5, '0')}.json`), lines([i]))))
    const { q, sink, error } = await runOnce(data)
    expect(error).toBeUndefined()
    expect(q.recentProgress.map((p) => p.numInputRows)).toEqual([1000, 200])
    expect(sink.rows()).toHaveLength(1200)
  })
})

describe('jsonFiles: the source log stays bounded', () => {
  it('forgets files older than maxFileAgeMs behind the newest when compacting, and never reads such files', async () => {
    const data = await tempDir('data')
    const checkpoint = await tempDir('ckpt')
    const hourAgo = new Date(Date.now() - 3_600_000)
    for (let i = 0; i < 10; i++) {
      await writeFile(join(data, `a-${i}.json`), lines([i]))
      if (i < 9) await utimes(join(data, `a-${i}.json`), hourAgo, hourAgo)
    }
    const run = async () => {
      const sink = memorySink<Row>()
      const q = await createSession()
        .readStream(jsonFiles(data, { codec: Row, maxFilesPerTrigger: 1, maxFileAgeMs: 60_000 }))
        .writeStream({ outputMode: 'append', sink, checkpointLocation: checkpoint, trigger: trigger.availableNow() })
        .start()
      await q.awaitTermination()
      return sink.rows()
    }
    expect(await run()).toHaveLength(10)
    const compact = decodeCheckpointFile('9.compact', await readFile(join(checkpoint, 'sources', '0', '9.compact')))
    expect((JSON.parse(compact.body) as { files: { name: string }[] }).files.map((f) => f.name)).toEqual(['a-9.json'])
    await writeFile(join(data, 'late-but-old.json'), lines([99]))
    await utimes(join(data, 'late-but-old.json'), hourAgo, hourAgo)
    expect(await run()).toEqual([])
  })
})

describe('jsonFiles: an input file deleted after it was listed', () => {
  it('fails the batch naming the file and saying how to proceed', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1]))
    await writeFile(join(data, 'b.json'), lines([2]))
    const { reader } = await openReader(data)
    await reader.latestOffset(-1, 'default')
    await unlink(join(data, 'b.json'))
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PathNotFoundError)
    expect((error as PathNotFoundError).path).toBe(join(data, 'b.json'))
    expect((error as Error).message).toContain('ignoreMissingFiles')
  })

  it('with ignoreMissingFiles skips it, counts it in progress and logs it so a re-run skips the same file', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1]))
    await writeFile(join(data, 'b.json'), lines([2]))
    const { reader, logDir } = await openReader(data, { ignoreMissingFiles: true })
    await reader.latestOffset(-1, 'default')
    await unlink(join(data, 'b.json'))
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    expect(reader.metrics?.()).toMatchObject({ numMissingFiles: 1 })
    await writeFile(join(data, 'b.json'), lines([2]))
    const again = await openReader(data, { ignoreMissingFiles: true }, logDir)
    expect(await again.reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
  })
})
