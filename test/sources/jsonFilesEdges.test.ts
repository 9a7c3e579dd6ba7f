/**
 * The jsonFiles source at its edges: option checks and their messages, which files each batch takes (the per-trigger
 * limit, name order whatever order the directory lists in, trigger.availableNow's snapshot), a batch logged before a
 * restart, what counts as a changed file, the errors of a file or directory that cannot be opened, dead-letter files,
 * the metrics per batch and in total, and the reader's small parts (offsets, identity, the directory watch).
 */
import fsp, { appendFile, readdir, readFile, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { withListingOf } from '../support/swapReaddir.js'
import { useTempDirs } from '../support/tempDirs.js'
import {
  BadRecordError,
  jsonFiles,
  type JsonFilesOptions,
  nodeFs,
  PathNotFoundError,
  SourceFileChangedError,
} from '../../src/index.js'
import { listNewFiles } from '../../src/sources/fileListing.js'
import { FileLog } from '../../src/sources/fileLog.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

const tempDir = useTempDirs()
const lines = (ids: number[]) => ids.map((id) => JSON.stringify({ id })).join('\n') + '\n'
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000)

async function openReader(dir: string, options: Partial<JsonFilesOptions<Row>> = {}, logDir?: string) {
  const log = logDir ?? join(await tempDir('log'), 'sources', '0')
  const reader = await jsonFiles(dir, { codec: Row, ...options }).open({ fs: nodeFs, logDir: log, restarting: false })
  return { reader, logDir: log }
}

/** Writes `<name>.json` holding `{ id }` rows for each name. */
async function writeNamed(dir: string, names: readonly string[]): Promise<void> {
  for (const [i, name] of names.entries()) await writeFile(join(dir, `${name}.json`), lines([i]))
}

/** Runs `body` while `readdir` of `dir` returns its entries in reverse name order (as some file systems list them). */
const withReversedListing = <R>(dir: string, body: () => Promise<R>): Promise<R> =>
  withListingOf(dir, (entries) => [...entries].sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0)), body)

describe('jsonFiles: option checks', () => {
  it('refuses maxFilesPerTrigger and maxConcurrentReads below 1 or not integers, with a message naming both', () => {
    for (const name of ['maxFilesPerTrigger', 'maxConcurrentReads'] as const) {
      for (const value of [0, -1, 1.5, Number.NaN]) {
        expect(() => jsonFiles('/data/in', { codec: Row, [name]: value })).toThrow(
          new RangeError(`jsonFiles(/data/in): ${name} must be a positive integer, got ${value}`),
        )
      }
      expect(() => jsonFiles('/data/in', { codec: Row, [name]: 1 })).not.toThrow()
      expect(() => jsonFiles('/data/in', { codec: Row, [name]: 2 })).not.toThrow()
    }
  })

  it('names itself after its directory, with trailing slashes and dot segments dropped from its identity', () => {
    const source = jsonFiles('/data/in/', { codec: Row })
    expect(source.kind).toBe('jsonFiles')
    expect(source.description).toBe('FileStreamSource[/data/in/]')
    expect(source.identity).toBe('/data/in')
    expect(jsonFiles('/data//./in///', { codec: Row }).identity).toBe('/data/in')
    expect(jsonFiles('/data/in', { codec: Row }).identity).toBe('/data/in')
    expect(jsonFiles('/', { codec: Row }).identity).toBe('/')
    expect(jsonFiles('rel/a/../b/', { codec: Row }).identity).toBe('rel/b')
  })
})

describe('jsonFiles: the reader\'s offsets', () => {
  it('starts before batch 0, reports its offset as a log offset, and refuses offsets that are not batch numbers', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a'])
    const { reader } = await openReader(data)
    expect(reader.initialOffset()).toBe(-1)
    expect(reader.progressOffset?.(3)).toEqual({ logOffset: 3 })
    for (const bad of ['x', -2, 1.5, null]) {
      await expect(reader.getBatch(bad as never, 0)).rejects.toThrow(
        new TypeError(`jsonFiles: offset must be a source log batch number, got ${JSON.stringify(bad)}`),
      )
      await expect(reader.latestOffset(bad as never, 'default')).rejects.toBeInstanceOf(TypeError)
    }
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 0 }])
    expect(await reader.getBatch(0, 0)).toEqual([])
  })

  it('returns no rows, not undefined, for a batch whose only file is empty', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), '')
    const { reader } = await openReader(data)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([])
  })
})

describe('jsonFiles: which files a batch takes', () => {
  it('takes at most maxFilesPerTrigger files per batch, in name order, and every file once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 4 }), async (names, max) => {
        const data = await tempDir('data')
        await writeNamed(data, names)
        const { reader } = await openReader(data, { maxFilesPerTrigger: max })
        const sorted = [...names].sort()
        const batches: number[][] = []
        for (let n = 0; ; n++) {
          const end = await reader.latestOffset(n - 1, 'default')
          if (end === n - 1) break
          expect(end).toBe(n)
          batches.push((await reader.getBatch(n - 1, n)).map((r) => r.id))
        }
        const expected: number[][] = []
        for (let i = 0; i < sorted.length; i += max) expected.push(sorted.slice(i, i + max).map((name) => names.indexOf(name)))
        expect(batches).toEqual(expected)
      }),
      { numRuns: 10 },
    )
  })

  it("takes every new file at once when the engine asks for 'all', however small maxFilesPerTrigger is", async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a', 'b', 'c'])
    const { reader } = await openReader(data, { maxFilesPerTrigger: 1 })
    expect(await reader.latestOffset(-1, 'all')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 0 }, { id: 1 }, { id: 2 }])
  })

  it('takes files in name order when the directory lists them in reverse', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a', 'b', 'c', 'd'])
    await withReversedListing(data, async () => {
      const listed = await listNewFiles(data, new Map(), new Set(), {
        ignoreFiles: undefined,
        minFileAgeMs: 0,
        readAppended: false,
        waitForDirectory: false,
        statConcurrency: 2,
      })
      expect(listed.map((f) => f.name)).toEqual(['a.json', 'b.json', 'c.json', 'd.json'])
      const { reader } = await openReader(data, { maxFilesPerTrigger: 2 })
      expect(await reader.latestOffset(-1, 'default')).toBe(0)
      expect(await reader.getBatch(-1, 0)).toEqual([{ id: 0 }, { id: 1 }])
      expect(await reader.latestOffset(0, 'default')).toBe(1)
      expect(await reader.getBatch(0, 1)).toEqual([{ id: 2 }, { id: 3 }])
    })
  })

  it('with trigger.availableNow takes only the files there when it was prepared', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a', 'b'])
    const { reader } = await openReader(data, { maxFilesPerTrigger: 1 })
    await reader.prepareForTriggerAvailableNow!()
    await writeFile(join(data, 'c.json'), lines([9]))
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 0 }])
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 1 }])
    expect(await reader.latestOffset(1, 'default')).toBe(1)
  })

  it('with trigger.availableNow takes a young file whose only line has no newline yet, read whole', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), '{"id":1}')
    await writeFile(join(data, 'b.json'), '{"id":2}\n{"id":3}')
    const { reader } = await openReader(data)
    await reader.prepareForTriggerAvailableNow!()
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
  })

  it("with trigger.availableNow and fileChanges 'readAppended' takes the bytes appended to files already read", async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1]))
    const { reader } = await openReader(data, { fileChanges: 'readAppended' })
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    await reader.commit(0)
    await appendFile(join(data, 'a.json'), lines([2]))
    await reader.prepareForTriggerAvailableNow!()
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    expect(await reader.getBatch(0, 1)).toEqual([{ id: 2 }])
  })

  it('re-runs a batch logged before a restart with its logged files, without listing new ones into it', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a'])
    const first = await openReader(data)
    expect(await first.reader.latestOffset(-1, 'default')).toBe(0)
    await writeFile(join(data, 'b.json'), lines([5]))
    const again = await openReader(data, {}, first.logDir)
    expect(await again.reader.latestOffset(-1, 'default')).toBe(0)
    expect(await again.reader.getBatch(-1, 0)).toEqual([{ id: 0 }])
    expect(await again.reader.latestOffset(0, 'default')).toBe(1)
    expect(await again.reader.getBatch(0, 1)).toEqual([{ id: 5 }])
  })

  it('re-runs a batch logged by name only (an older log) by reading its file whole, not failing it as changed', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([1, 2]))
    const logDir = join(await tempDir('log'), 'sources', '0')
    await new FileLog(nodeFs, logDir).add(0, [{ name: 'a.json' }])
    expect(await readFile(join(logDir, '0'), 'utf8')).toContain('["a.json"]')
    for (const fileChanges of ['fail', 'readAppended'] as const) {
      const { reader } = await openReader(data, { fileChanges }, logDir)
      expect(await reader.latestOffset(-1, 'default')).toBe(0)
      expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }, { id: 2 }])
    }
  })

  it('no longer watches a file for growth once it was last modified more than five minutes ago', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, lines([1]))
    await utimes(file, minutesAgo(10), minutesAgo(10))
    const { reader } = await openReader(data)
    expect(await reader.latestOffset(-1, 'default')).toBe(0)
    await reader.commit(0)
    await appendFile(file, lines([2]))
    await utimes(file, minutesAgo(10), minutesAgo(10))
    expect(await reader.latestOffset(0, 'default')).toBe(0)
  })
})

describe('jsonFiles: what counts as a changed file', () => {
  it('fails a batch whose file was rewritten with the same size but a new modification time', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, lines([1]))
    await utimes(file, minutesAgo(10), minutesAgo(10))
    const { reader } = await openReader(data)
    await reader.latestOffset(-1, 'default')
    await writeFile(file, lines([2]))
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect(error).toMatchObject({ path: file, loggedSize: 9, currentSize: 9 })
  })

  it('fails a batch whose file grew though its modification time was set back', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, lines([1]))
    await utimes(file, 1_600_000_000, 1_600_000_000)
    const { reader } = await openReader(data)
    await reader.latestOffset(-1, 'default')
    await appendFile(file, lines([2]))
    await utimes(file, 1_600_000_000, 1_600_000_000)
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect(error).toMatchObject({ path: file, loggedSize: 9, currentSize: 18 })
    expect((error as Error).message).toBe(new SourceFileChangedError(file, 9, 18).message)
  })

  it("with 'readAppended' reads a file only touched since, and fails one that shrank", async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, lines([1, 2]))
    await utimes(file, minutesAgo(10), minutesAgo(10))
    const { reader } = await openReader(data, { fileChanges: 'readAppended' })
    await reader.latestOffset(-1, 'default')
    await utimes(file, minutesAgo(8), minutesAgo(8))
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }, { id: 2 }])
    await truncate(file, 9)
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect(error).toMatchObject({ path: file, loggedSize: 18, currentSize: 9 })
  })

  it("with 'readAppended' names a bad row of appended bytes by the file and the byte they start at", async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, '{"id":"one"}\n')
    const { reader } = await openReader(data, { fileChanges: 'readAppended' })
    await reader.latestOffset(-1, 'default')
    expect(await reader.getBatch(-1, 0).catch((e: unknown) => e)).toMatchObject({ file, line: 1 })
    await reader.commit(0)
    await appendFile(file, '{"id":"two"}\n')
    expect(await reader.latestOffset(0, 'default')).toBe(1)
    const error = await reader.getBatch(0, 1).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadRecordError)
    expect((error as BadRecordError).file).toBe(`${file} (appended from byte 13)`)
  })
})

describe('jsonFiles: a file cut short while it is read', () => {
  it('fails the batch when fewer bytes can be read than were logged, instead of returning part of the file', async () => {
    const data = await tempDir('data')
    const file = join(data, 'a.json')
    await writeFile(file, lines([1, 2]))
    const { reader } = await openReader(data)
    await reader.latestOffset(-1, 'default')
    // The file is truncated right after the source checked its size, before it reads the bytes.
    const original = fsp.open
    const cutting = async (...args: Parameters<typeof original>) => {
      const handle = await original(...args)
      if (args[0] !== file) return handle
      const stat = handle.stat.bind(handle)
      Object.assign(handle, {
        stat: async (...a: Parameters<typeof stat>) => {
          const s = await stat(...a)
          await truncate(file, 9)
          return s
        },
      })
      return handle
    }
    ;(fsp as { open: unknown }).open = cutting
    syncBuiltinESMExports()
    try {
      const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SourceFileChangedError)
      expect(error).toMatchObject({ path: file, loggedSize: 18, currentSize: 9 })
    } finally {
      ;(fsp as { open: unknown }).open = original
      syncBuiltinESMExports()
    }
  })
})

describe('jsonFiles: paths that cannot be opened', () => {
  it('refuses at start a path that is a file, and passes on errors other than a missing path', async () => {
    const parent = await tempDir('parent')
    const file = join(parent, 'data.json')
    await writeFile(file, '')
    const error = await openReader(file).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PathNotFoundError)
    expect((error as Error).message).toBe(`path does not exist: ${file}; jsonFiles needs a directory, and this path is a file`)
    for (const waitForDirectory of [false, true]) {
      const below = await openReader(join(file, 'sub'), { waitForDirectory }).catch((e: unknown) => e)
      expect(below).not.toBeInstanceOf(PathNotFoundError)
      expect(below).toMatchObject({ code: 'ENOTDIR' })
    }
  })

  it('fails a batch whose file was deleted with a message saying how to go on', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a'])
    const { reader } = await openReader(data)
    await reader.latestOffset(-1, 'default')
    await unlink(join(data, 'a.json'))
    await expect(reader.getBatch(-1, 0)).rejects.toThrow(
      `path does not exist: ${join(data, 'a.json')}; the input file was deleted after it was logged for a batch, so the batch cannot be ` +
        're-read; restore the file, or restart with jsonFiles option ignoreMissingFiles: true to skip it (recorded in the checkpoint)',
    )
  })

  it('fails a batch whose file cannot be opened for a reason other than being gone, even with ignoreMissingFiles', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a'])
    const { reader } = await openReader(data, { ignoreMissingFiles: true })
    await reader.latestOffset(-1, 'default')
    await unlink(join(data, 'a.json'))
    await symlink('a.json', join(data, 'a.json'))
    const error = await reader.getBatch(-1, 0).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ELOOP' })
    expect(reader.metrics?.()).toMatchObject({ numMissingFiles: 0 })
  })
})

describe('jsonFiles: bad records and missing files, per batch and in total', () => {
  it('writes one dead-letter file per batch, named by batch, one record a line, and counts bad rows per batch and in total', async () => {
    const data = await tempDir('data')
    const dead = await tempDir('dead')
    await writeFile(join(data, 'a.json'), '{"id":1}\nnope\n{"id":"x"}\n')
    await writeFile(join(data, 'b.json'), '{"id":2}\n{}\n')
    await writeFile(join(data, 'c.json'), '{"id":3}\n')
    const { reader } = await openReader(data, { maxFilesPerTrigger: 1, badRecords: { path: dead } })
    const metrics: unknown[] = []
    for (let n = 0; n < 3; n++) {
      expect(await reader.latestOffset(n - 1, 'default')).toBe(n)
      expect(await reader.getBatch(n - 1, n)).toEqual([{ id: n + 1 }])
      metrics.push(reader.metrics?.())
    }
    const counts = (bad: number, badTotal: number) => ({ numBadRecords: bad, numBadRecordsTotal: badTotal, numMissingFiles: 0, numMissingFilesTotal: 0 })
    expect(metrics).toEqual([counts(2, 2), counts(1, 3), counts(0, 3)])
    expect((await readdir(dead)).sort()).toEqual(['bad-records-00000000.jsonl', 'bad-records-00000001.jsonl'])
    const body = await readFile(join(dead, 'bad-records-00000000.jsonl'), 'utf8')
    expect(body.endsWith('}\n')).toBe(true)
    const records = body.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { file: string; line: number })
    expect(records.map((r) => [r.file, r.line])).toEqual([
      [join(data, 'a.json'), 2],
      [join(data, 'a.json'), 3],
    ])
  })

  it('counts missing files per batch and in total', async () => {
    const data = await tempDir('data')
    await writeNamed(data, ['a', 'b', 'c', 'd'])
    const { reader } = await openReader(data, { maxFilesPerTrigger: 2, ignoreMissingFiles: true })
    await reader.latestOffset(-1, 'default')
    await reader.latestOffset(0, 'default')
    await unlink(join(data, 'a.json'))
    await unlink(join(data, 'c.json'))
    await unlink(join(data, 'd.json'))
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    expect(reader.metrics?.()).toEqual({ numBadRecords: 0, numBadRecordsTotal: 0, numMissingFiles: 1, numMissingFilesTotal: 1 })
    expect(await reader.getBatch(0, 1)).toEqual([])
    expect(reader.metrics?.()).toEqual({ numBadRecords: 0, numBadRecordsTotal: 0, numMissingFiles: 2, numMissingFilesTotal: 3 })
    // A file logged as missing stays skipped when its batch is read again, even once it is back.
    await writeFile(join(data, 'a.json'), lines([7]))
    expect(await reader.getBatch(-1, 0)).toEqual([{ id: 1 }])
    expect(reader.metrics?.()).toEqual({ numBadRecords: 0, numBadRecordsTotal: 0, numMissingFiles: 0, numMissingFilesTotal: 3 })
  })
})

describe('jsonFiles: waking an idle query', () => {
  it('calls the listener when a file appears, and no more once unsubscribed', async () => {
    const data = await tempDir('data')
    const { reader } = await openReader(data)
    let calls = 0
    let woken!: () => void
    const wake = new Promise<void>((resolve) => (woken = resolve))
    const off = reader.onDataAvailable!(() => {
      calls++
      woken()
    })
    await writeFile(join(data, 'a.json'), lines([1]))
    await wake
    off()
    const before = calls
    await writeFile(join(data, 'b.json'), lines([2]))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(calls).toBe(before)
  })

  it('returns a working unsubscribe for a directory not there yet', async () => {
    const later = join(await tempDir('parent'), 'later')
    const { reader } = await openReader(later, { waitForDirectory: true })
    const off = reader.onDataAvailable!(() => undefined)
    expect(off()).toBeUndefined()
  })
})
