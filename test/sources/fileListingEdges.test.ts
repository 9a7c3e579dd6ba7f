/**
 * listNewFiles and isInputName at their edges: which names are input, the order files are listed in, which seen
 * files are looked at again, the age cut, and where a growing file's complete lines end.
 */
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { withListingOf } from '../support/swapReaddir.js'
import { useTempDirs } from '../support/tempDirs.js'
import { PathNotFoundError, SourceFileChangedError } from '../../src/index.js'
import { isInputName, type ListingRules, listNewFiles, missingDirectory } from '../../src/sources/fileListing.js'

const tempDir = useTempDirs()
const rules = (over: Partial<ListingRules> = {}): ListingRules => ({
  ignoreFiles: undefined,
  minFileAgeMs: 0,
  readAppended: false,
  waitForDirectory: false,
  statConcurrency: 4,
  ...over,
})
const none = new Map<string, number | undefined>()
const names = (files: { name: string }[]) => files.map((f) => f.name)

/**
 * Runs `body` while `readdir` of `dir` also reports `extra` as regular files, after the real entries: names that are
 * gone (or otherwise unstat-able) by the time the listing stats them.
 */
const withExtraEntries = <R>(dir: string, extra: readonly string[], body: () => Promise<R>): Promise<R> =>
  withListingOf(dir, (entries) => [...entries, ...extra.map((name) => ({ name, isFile: () => true, isDirectory: () => false, isSymbolicLink: () => false }))], body)

describe('isInputName', () => {
  it('takes .json, .jsonl and .ndjson names only, the extension at the very end', () => {
    for (const name of ['a.json', 'a.jsonl', 'a.ndjson', 'x.y.json']) expect(isInputName(name, undefined)).toBe(true)
    for (const name of ['a.txt', 'a.json.tmp', 'ajson', 'a.jsonx', 'a.json~']) expect(isInputName(name, undefined)).toBe(false)
  })

  it('never takes hidden or underscore names, nor names matching ignoreFiles', () => {
    expect(isInputName('.a.json', undefined)).toBe(false)
    expect(isInputName('_SUCCESS.json', undefined)).toBe(false)
    expect(isInputName('a_b.json', undefined)).toBe(true)
    expect(isInputName('a.part.json', /\.part\./)).toBe(false)
    expect(isInputName('a.json', /\.part\./)).toBe(true)
  })
})

describe('listNewFiles', () => {
  it('lists new input files in name order with their size and modification time, skipping directories', async () => {
    const dir = await tempDir('list')
    for (const n of ['c', 'a', 'b']) await writeFile(join(dir, `${n}.json`), `{"n":"${n}"}\n`)
    await mkdir(join(dir, 'sub.json'))
    await writeFile(join(dir, 'notes.txt'), 'x')
    const files = await listNewFiles(dir, none, new Set(), rules())
    expect(names(files)).toEqual(['a.json', 'b.json', 'c.json'])
    expect(files[0]).toEqual({ name: 'a.json', size: 10, mtimeMs: expect.any(Number) })
  })

  it('leaves seen files alone unless recent; a recent file that grew fails naming it, one that did not is not listed', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n{}\n')
    await writeFile(join(dir, 'b.json'), '{}\n{}\n')
    const seen = new Map<string, number | undefined>([['a.json', 3], ['b.json', 6]])
    expect(await listNewFiles(dir, seen, new Set(), rules())).toEqual([])
    expect(await listNewFiles(dir, seen, new Set(['b.json']), rules())).toEqual([])
    const error = await listNewFiles(dir, seen, new Set(['a.json']), rules()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SourceFileChangedError)
    expect(error).toMatchObject({ path: join(dir, 'a.json') })
  })

  it('a file read whole before sizes were logged is never looked at again', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n')
    expect(await listNewFiles(dir, new Map([['a.json', undefined]]), new Set(['a.json']), rules({ readAppended: true }))).toEqual([])
  })

  it('with readAppended, lists a seen file\'s appended complete lines as a version from the size already read', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n{}\n')
    const seen = new Map<string, number | undefined>([['a.json', 3]])
    const [file] = await listNewFiles(dir, seen, new Set(), rules({ readAppended: true }))
    expect(file).toEqual({ name: 'a.json', size: 6, mtimeMs: expect.any(Number), from: 3 })
    expect(await listNewFiles(dir, new Map([['a.json', 6]]), new Set(), rules({ readAppended: true }))).toEqual([])
  })

  it('with readAppended, takes a young file up to its last newline, even a newline right at the size already read', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n{"x":')
    await writeFile(join(dir, 'b.json'), '{}\n{"y":1}')
    await writeFile(join(dir, 'c.json'), '{"z":')
    const seen = new Map<string, number | undefined>([['b.json', 2]])
    const files = await listNewFiles(dir, seen, new Set(), rules({ readAppended: true }))
    expect(files.map(({ name, size, from }) => ({ name, size, from }))).toEqual([
      { name: 'a.json', size: 3, from: undefined },
      { name: 'b.json', size: 3, from: 2 },
    ])
  })

  it('with readAppended, finds the last newline of a line longer than one tail read', async () => {
    const dir = await tempDir('list')
    const long = `{"s":"${'x'.repeat(150_000)}"}\n`
    await writeFile(join(dir, 'a.json'), long + 'y'.repeat(70_000))
    const [file] = await listNewFiles(dir, none, new Set(), rules({ readAppended: true }))
    expect(file!.size).toBe(Buffer.byteLength(long))
  })

  it('with readAppended, takes an old file\'s last line without a newline whole', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n{"x":1}')
    const old = (Date.now() - 10 * 60_000) / 1000
    await utimes(join(dir, 'a.json'), old, old)
    const [file] = await listNewFiles(dir, none, new Set(), rules({ readAppended: true }))
    expect(file!.size).toBe(10)
  })

  it('leaves out files modified before ignoreOlderThanMs, keeping one modified exactly then', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n')
    await writeFile(join(dir, 'b.json'), '{}\n')
    await utimes(join(dir, 'a.json'), 1_600_000_000, 1_600_000_000)
    await utimes(join(dir, 'b.json'), 1_600_000_001, 1_600_000_001)
    const at = (ms: number) => listNewFiles(dir, none, new Set(), rules({ ignoreOlderThanMs: ms })).then(names)
    expect(await at(1_600_000_000_000)).toEqual(['a.json', 'b.json'])
    expect(await at(1_600_000_000_001)).toEqual(['b.json'])
  })

  it('holds back files younger than minFileAgeMs', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'new.json'), '{}\n')
    await writeFile(join(dir, 'old.json'), '{}\n')
    const old = (Date.now() - 60_000) / 1000
    await utimes(join(dir, 'old.json'), old, old)
    expect(names(await listNewFiles(dir, none, new Set(), rules({ minFileAgeMs: 30_000 })))).toEqual(['old.json'])
  })

  it('a missing directory fails naming it, or lists as empty with waitForDirectory', async () => {
    const missing = join(await tempDir('list'), 'nope')
    await expect(listNewFiles(missing, none, new Set(), rules({ waitForDirectory: true }))).resolves.toEqual([])
    const error = await listNewFiles(missing, none, new Set(), rules()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PathNotFoundError)
    expect(error).toEqual(missingDirectory(missing))
    expect((error as PathNotFoundError).path).toBe(missing)
    expect((error as Error).message).toContain(
      'the source directory of jsonFiles must exist when the query starts (check the path, or set waitForDirectory: true to wait for it to appear)',
    )
  })

  it('skips a file gone between readdir and stat, listing the others', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n')
    await writeFile(join(dir, 'c.json'), '{}\n')
    const files = await withExtraEntries(dir, ['b.json'], () => listNewFiles(dir, none, new Set(), rules()))
    expect(names(files)).toEqual(['a.json', 'c.json'])
    const appended = await withExtraEntries(dir, ['b.json'], () => listNewFiles(dir, none, new Set(), rules({ readAppended: true })))
    expect(names(appended)).toEqual(['a.json', 'c.json'])
  })

  it('fails with a stat error other than a missing file (a symlink looping to itself)', async () => {
    const dir = await tempDir('list')
    await writeFile(join(dir, 'a.json'), '{}\n')
    await symlink('loop.json', join(dir, 'loop.json'))
    // readdir reports the link as a symlink, not a file: only a listing that sees it as a file stats it.
    expect(names(await listNewFiles(dir, none, new Set(), rules()))).toEqual(['a.json'])
    const error = await withExtraEntries(dir, ['loop.json'], () => listNewFiles(dir, none, new Set(), rules())).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ELOOP', path: join(dir, 'loop.json') })
  })

  it('fails with the directory\'s own readdir error other than a missing path, even with waitForDirectory', async () => {
    const parent = await tempDir('list')
    const file = join(parent, 'a.json')
    await writeFile(file, '{}\n')
    for (const waitForDirectory of [false, true]) {
      const error = await listNewFiles(file, none, new Set(), rules({ waitForDirectory })).catch((e: unknown) => e)
      expect(error).not.toBeInstanceOf(PathNotFoundError)
      expect(error).toMatchObject({ code: 'ENOTDIR', path: file })
    }
  })
})
