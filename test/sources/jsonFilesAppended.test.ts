/**
 * The jsonFiles source over files that are still being written: a file whose modification time is ahead of the
 * listing's clock (the same millisecond, or a writer's clock ahead) is read when no minimum age is asked for.
 */
import { appendFile, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { jsonFiles, type JsonFilesOptions, nodeFs } from '../../src/index.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

const created: string[] = []
afterEach(async () => {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `srx-${prefix}-`))
  created.push(dir)
  return dir
}

/** Opens the source's reader the way a query with a checkpoint does (its log in `logDir`, a temp dir by default). */
async function openReader(dir: string, options: Partial<JsonFilesOptions<Row>>, logDir?: string) {
  const log = logDir ?? join(await tempDir('log'), 'sources', '0')
  const reader = await jsonFiles(dir, { codec: Row, ...options }).open({ fs: nodeFs, logDir: log, restarting: false })
  return { reader, logDir: log }
}

const tailing = { fileChanges: 'readAppended', minFileAgeMs: 0 } as const

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
