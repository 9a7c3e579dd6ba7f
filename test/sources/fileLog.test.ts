/**
 * The file source's own log (src/sources/fileLog.ts) on its own: what it writes under the checkpoint, what a restart
 * reads back, where it refuses a log with holes, and how compaction folds and forgets entries.
 */
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { FileLog, type LoggedFile } from '../../src/sources/fileLog.js'
import { CheckpointCorruptedError, nodeFs } from '../../src/index.js'

const tempDir = useTempDirs()
const logDir = async () => join(await tempDir('filelog'), 'sources', '0')
const file = (name: string, size: number, mtimeMs: number): LoggedFile => ({ name, size, mtimeMs })

async function reopened(dir: string): Promise<FileLog> {
  const log = new FileLog(nodeFs, dir)
  await log.load()
  return log
}

/** The names in `dir` that are not temp files, sorted as strings. */
const listing = async (dir: string) => (await readdir(dir)).filter((n) => !n.startsWith('.')).sort()

describe('FileLog without a checkpoint', () => {
  it('loads as empty and keeps entries in memory only', async () => {
    const log = new FileLog(nodeFs, undefined)
    await log.load()
    expect(log.latest).toBe(-1)
    await log.add(0, [file('a', 3, 10)])
    expect(log.filesOf(0)).toEqual([file('a', 3, 10)])
    // Without a log directory there is nothing that could have lost entries.
    expect(() => log.assertReaches(5)).not.toThrow()
  })

  it('compacts in memory: the folded entries are gone, their files still seen', async () => {
    const log = new FileLog(nodeFs, undefined)
    for (let n = 0; n <= 9; n++) await log.add(n, [file(`f${n}`, n, 100 + n)])
    await log.compact(9)
    expect(() => log.filesOf(9)).toThrow('jsonFiles: source log has no entry 9 (was it compacted before commit?)')
    expect([...log.seen.keys()].sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9'])
  })
})

describe('FileLog under a checkpoint', () => {
  it('reads back every entry in batch order after a restart, past batch 9 (names that sort as strings out of order)', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    await log.load()
    for (let n = 0; n <= 11; n++) await log.add(n, [file(`f${n}`, 10 + n, 1000 + n)])
    const again = await reopened(dir)
    expect(again.latest).toBe(11)
    for (let n = 0; n <= 11; n++) expect(again.filesOf(n)).toEqual([file(`f${n}`, 10 + n, 1000 + n)])
    expect(again.seen.get('f11')).toBe(21)
    expect(again.newestMtimeMs).toBe(1011)
  })

  it('keeps a file\'s from and missing marks, and a bare-name file stays bare (read whole)', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    await log.add(0, [{ name: 'old' }, { name: 'part', size: 9, mtimeMs: 5, from: 4 }, file('gone', 2, 6)])
    await log.markMissing(0, 'gone')
    const again = await reopened(dir)
    expect(again.filesOf(0)).toEqual([{ name: 'old' }, { name: 'part', size: 9, mtimeMs: 5, from: 4 }, { ...file('gone', 2, 6), missing: true }])
    expect(again.seen.has('old')).toBe(true)
    expect(again.seen.get('old')).toBeUndefined()
    // A file without a modification time is not one a writer may still be appending to.
    expect([...again.recent.keys()]).toEqual(['part', 'gone'])
  })

  it('markMissing marks only the named file', async () => {
    const log = new FileLog(nodeFs, await logDir())
    await log.add(3, [file('a', 1, 1), file('b', 1, 1)])
    await log.markMissing(3, 'b')
    expect(log.filesOf(3)).toEqual([file('a', 1, 1), { ...file('b', 1, 1), missing: true }])
  })

  it('refuses a log with a hole, naming the first missing entry', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (const n of [0, 1, 3]) await log.add(n, [file(`f${n}`, 1, 1)])
    const error = await new FileLog(nodeFs, dir).load().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).path).toBe(join(dir, '2'))
    expect((error as CheckpointCorruptedError).reason).toBe(
      `the source log entry is missing (the source log continues at batch 3): without it the files it listed would be ` +
        `read again; restore ${dir} from a backup, or start the query on a new checkpoint location`,
    )
  })

  it('refuses a log that starts after batch 0', async () => {
    const dir = await logDir()
    await new FileLog(nodeFs, dir).add(1, [file('a', 1, 1)])
    await expect(reopened(dir)).rejects.toThrow('the source log continues at batch 1')
  })

  it('assertReaches: the last logged batch passes, the one after it is a lost entry', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    await log.add(0, [file('a', 1, 1)])
    await log.add(1, [file('b', 1, 1)])
    expect(() => log.assertReaches(1)).not.toThrow()
    expect(() => log.assertReaches(0)).not.toThrow()
    const error = (() => {
      try {
        log.assertReaches(2)
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).path).toBe(join(dir, '2'))
    expect((error as CheckpointCorruptedError).reason).toContain('(the query committed source batch 2, but the log ends at 1)')
  })

  it('filesOf names the entry it does not have', async () => {
    const log = new FileLog(nodeFs, await logDir())
    expect(() => log.filesOf(4)).toThrow('jsonFiles: source log has no entry 4 (was it compacted before commit?)')
  })
})

describe('FileLog.recent and newestMtimeMs', () => {
  it(`holds the last 64 files logged with a modification time, dropping the oldest logged first`, async () => {
    const log = new FileLog(nodeFs, undefined)
    await log.add(0, Array.from({ length: 64 }, (_, i) => file(`f${i}`, 1, i)))
    expect(log.recent.size).toBe(64)
    expect(log.recent.has('f0')).toBe(true)
    // Logging f0 again makes it the newest; the next file then pushes out f1, not f0.
    await log.add(1, [file('f0', 2, 70)])
    await log.add(2, [file('g', 1, 71)])
    expect(log.recent.size).toBe(64)
    expect(log.recent.has('f1')).toBe(false)
    expect(log.recent.get('f0')).toBe(70)
    expect(log.recent.get('g')).toBe(71)
  })

  it('newestMtimeMs is the newest time logged, not the last', async () => {
    const log = new FileLog(nodeFs, undefined)
    await log.add(0, [file('a', 1, 50), file('b', 1, 20)])
    expect(log.newestMtimeMs).toBe(50)
    expect(log.latest).toBe(0)
  })

  it('forgetRecent drops files modified strictly before the cut', async () => {
    const log = new FileLog(nodeFs, undefined)
    await log.add(0, [file('a', 1, 9), file('b', 1, 10), file('c', 1, 11)])
    log.forgetRecent(10)
    expect([...log.recent.keys()]).toEqual(['b', 'c'])
  })
})

describe('FileLog.compact', () => {
  it('does nothing before every tenth batch commits, nor for the initial offset -1', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (let n = 0; n <= 8; n++) await log.add(n, [file(`f${n}`, 1, 1)])
    await log.compact(-1)
    await log.compact(8)
    expect(await listing(dir)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8'])
    expect(log.filesOf(8)).toEqual([file('f8', 1, 1)])
  })

  it('at batch 9 folds entries 0..9 into 9.compact, deletes them, and keeps later entries', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (let n = 0; n <= 10; n++) await log.add(n, [file(`f${n}`, n + 1, 100 + n), file('grows', n + 1, 100 + n)])
    await log.compact(9)
    expect(await listing(dir)).toEqual(['10', '9.compact'])
    expect(() => log.filesOf(9)).toThrow('no entry 9')
    expect(log.filesOf(10)).toHaveLength(2)
    const again = await reopened(dir)
    expect(again.latest).toBe(10)
    // A file listed in several entries is known by the size of its last listing up to the compaction, then of entry 10.
    expect(again.seen.get('grows')).toBe(11)
    expect(again.seen.get('f9')).toBe(10)
    expect(again.seen.get('f0')).toBe(1)
    expect(again.newestMtimeMs).toBe(110)
    expect(again.filesOf(10)).toEqual([file('f10', 11, 110), file('grows', 11, 110)])
    expect(() => again.filesOf(9)).toThrow('no entry 9')
  })

  it('a restart reads the compaction alone: its mtimes set newestMtimeMs, bare names stay read-whole', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    await log.add(0, [{ name: 'bare' }])
    for (let n = 1; n <= 9; n++) await log.add(n, [file(`f${n}`, n, 100 + n)])
    await log.compact(9)
    const again = await reopened(dir)
    expect(again.latest).toBe(9)
    expect(again.newestMtimeMs).toBe(109)
    expect(again.seen.has('bare')).toBe(true)
    expect(again.seen.get('bare')).toBeUndefined()
    expect(again.seen.get('f5')).toBe(5)
    expect(() => again.assertReaches(9)).not.toThrow()
    expect(() => again.assertReaches(10)).toThrow(CheckpointCorruptedError)
  })

  it('a second compaction replaces the first and still knows the files of the first', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (let n = 0; n <= 19; n++) await log.add(n, [file(`f${n}`, 1, n)])
    await log.compact(9)
    await log.compact(19)
    expect(await listing(dir)).toEqual(['19.compact'])
    await log.add(20, [file('f20', 1, 20)])
    const again = await reopened(dir)
    expect(again.latest).toBe(20)
    expect(again.seen.size).toBe(21)
    expect(again.filesOf(20)).toEqual([file('f20', 1, 20)])
  })

  it('ignores entries a crash left behind between writing a compaction and deleting what it folded', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (let n = 0; n <= 9; n++) await log.add(n, [file(`f${n}`, 1, n)])
    // Keep copies of entries 8 and 9, compact, then put them back as if the deletes never happened.
    const { readFile } = await import('node:fs/promises')
    const kept = await Promise.all(['8', '9'].map(async (n) => [n, await readFile(join(dir, n))] as const))
    await log.compact(9)
    for (const [n, bytes] of kept) await writeFile(join(dir, n), bytes)
    await log.add(10, [file('f10', 1, 10)])
    const again = await reopened(dir)
    expect(again.latest).toBe(10)
    expect(again.filesOf(10)).toEqual([file('f10', 1, 10)])
    expect(() => again.filesOf(9)).toThrow('no entry 9')
  })

  it('reads from the newest compaction when a crash left the one before it behind', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    for (let n = 0; n <= 9; n++) await log.add(n, [file(`f${n}`, 1, n)])
    await log.compact(9)
    const { readFile } = await import('node:fs/promises')
    const first = await readFile(join(dir, '9.compact'))
    for (let n = 10; n <= 19; n++) await log.add(n, [file(`f${n}`, 1, n)])
    await log.compact(19)
    // The older compaction back, as if the crash came before its delete; its entries 10..19 are gone.
    await writeFile(join(dir, '9.compact'), first)
    await log.add(20, [file('f20', 1, 20)])
    const again = await reopened(dir)
    expect(again.latest).toBe(20)
    expect([...again.seen.keys()].sort()).toEqual(Array.from({ length: 21 }, (_, n) => `f${n}`).sort())
  })

  it('forgets files modified strictly before the cut, keeps the ones at it and the ones without an mtime', async () => {
    const dir = await logDir()
    const log = new FileLog(nodeFs, dir)
    await log.add(0, [{ name: 'bare' }, file('old', 1, 49), file('edge', 1, 50), file('new', 1, 51)])
    for (let n = 1; n <= 9; n++) await log.add(n, [])
    await log.compact(9, 50)
    expect([...log.seen.keys()].sort()).toEqual(['bare', 'edge', 'new'])
    const again = await reopened(dir)
    expect([...again.seen.keys()].sort()).toEqual(['bare', 'edge', 'new'])
  })
})
