/**
 * The directory lister of file sources reads a directory's entries again only when the directory changed (or a full
 * listing is due): an idle query over thousands of processed files stats its directory instead of listing it, and
 * still sees every new file at the next listing.
 */
import { appendFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SourceFileChangedError } from '../../src/errors.js'
import { DirectoryLister, type ListingRules } from '../../src/sources/fileListing.js'
import { useTempDirs } from '../support/tempDirs.js'

const tempDir = useTempDirs()

const RULES: ListingRules = { ignoreFiles: undefined, minFileAgeMs: 0, readAppended: false, waitForDirectory: false, statConcurrency: 4 }

/** A clock the test moves: it starts 5 s ahead of the file system's, so the directory counts as settled. */
function testClock(): { now: () => number; advance: (ms: number) => void } {
  let t = Date.now() + 5_000
  return { now: () => t, advance: (ms) => (t += ms) }
}

/** Lists like the jsonFiles source does: what is returned is logged as seen, and the last files logged are recent. */
function logging(lister: DirectoryLister) {
  const seen = new Map<string, number | undefined>()
  const recent = new Map<string, number>()
  return {
    async list(): Promise<string[]> {
      const files = await lister.list(seen, recent)
      for (const f of files) {
        seen.set(f.name, f.size)
        recent.set(f.name, f.mtimeMs ?? 0)
      }
      return files.map((f) => f.name)
    },
  }
}

describe('DirectoryLister', () => {
  it('does not read an unchanged directory again after a listing that found nothing new, until a full listing is due', async () => {
    const dir = await tempDir('lister')
    for (let i = 0; i < 5; i++) await writeFile(join(dir, `f${i}.json`), '{}\n')
    const clock = testClock()
    const lister = new DirectoryLister(dir, RULES, clock.now)
    const source = logging(lister)
    expect(await source.list()).toEqual(['f0.json', 'f1.json', 'f2.json', 'f3.json', 'f4.json'])
    expect(await source.list()).toEqual([])
    expect(lister.entryReads).toBe(2)
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000)
      expect(await source.list()).toEqual([])
    }
    expect(lister.entryReads).toBe(2)
    clock.advance(5_000)
    expect(await source.list()).toEqual([])
    expect(lister.entryReads).toBe(3)
  })

  it('sees a file written into, or renamed into, the directory at the very next listing', async () => {
    const dir = await tempDir('lister')
    const outside = await tempDir('lister-out')
    await writeFile(join(dir, 'a.json'), '{}\n')
    const clock = testClock()
    const lister = new DirectoryLister(dir, RULES, clock.now)
    const source = logging(lister)
    expect(await source.list()).toEqual(['a.json'])
    expect(await source.list()).toEqual([])
    await writeFile(join(dir, 'b.json'), '{}\n')
    expect(await source.list()).toEqual(['b.json'])
    expect(await source.list()).toEqual([])
    await writeFile(join(outside, 'c.json'), '{}\n')
    await rename(join(outside, 'c.json'), join(dir, 'c.json'))
    expect(await source.list()).toEqual(['c.json'])
  })

  it('reads the entries every time while the directory changed within the last seconds (its time may not move again)', async () => {
    const dir = await tempDir('lister')
    await writeFile(join(dir, 'a.json'), '{}\n')
    // The real clock: the directory changed just now.
    const lister = new DirectoryLister(dir, RULES)
    const source = logging(lister)
    await source.list()
    await source.list()
    await source.list()
    expect(lister.entryReads).toBe(3)
  })

  it('keeps reading the entries while a file is held back for its age, and takes it once old enough', async () => {
    const dir = await tempDir('lister')
    await writeFile(join(dir, 'young.json'), '{}\n')
    const clock = testClock()
    const lister = new DirectoryLister(dir, { ...RULES, minFileAgeMs: 150 }, clock.now)
    const source = logging(lister)
    expect(await source.list()).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await source.list()).toEqual(['young.json'])
    expect(lister.entryReads).toBe(2)
  })

  it('fails on a read file that grew, at the next full listing at the latest', async () => {
    const dir = await tempDir('lister')
    await writeFile(join(dir, 'a.json'), '{}\n')
    const clock = testClock()
    const lister = new DirectoryLister(dir, RULES, clock.now)
    const source = logging(lister)
    await source.list()
    await source.list()
    await appendFile(join(dir, 'a.json'), '{}\n')
    clock.advance(10_000)
    await expect(source.list()).rejects.toBeInstanceOf(SourceFileChangedError)
  })

  it('lists in full every time with readAppended (every seen file is checked for appended bytes)', async () => {
    const dir = await tempDir('lister')
    await writeFile(join(dir, 'a.json'), '{"n":1}\n')
    const clock = testClock()
    const lister = new DirectoryLister(dir, { ...RULES, readAppended: true }, clock.now)
    const source = logging(lister)
    expect(await source.list()).toEqual(['a.json'])
    expect(await source.list()).toEqual([])
    await appendFile(join(dir, 'a.json'), '{"n":2}\n')
    expect(await source.list()).toEqual(['a.json'])
    expect(lister.entryReads).toBe(3)
  })
})
