/**
 * fromObservable at its edges: its names, the offsets it refuses, availableNow, its listeners and the observable's
 * error, codec rejections, recovery of the log directory (names that are not segments, a torn tail, a vanished
 * segment), where reads come from (memory for events this process logged, only the segment files a range needs after
 * a restart), the file and line of bad logged events, and a log of more than one segment (10,000 events each): where
 * segments start, reads across a segment boundary after a restart, and which segments a commit deletes.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import * as t from 'io-ts'
import { Subject } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { BadRecordError, CheckpointCorruptedError, type CheckpointFs, fromObservable, nodeFs, type SourceReader } from '../../src/index.js'

const tempDir = useTempDirs()
const ctx = { fs: nodeFs, logDir: undefined, restarting: false }
const segment = (first: number) => `${String(first).padStart(20, '0')}.jsonl`

/** nodeFs recording the names of the files it reads. */
function countingReads(): { fs: CheckpointFs; reads: string[] } {
  const reads: string[] = []
  return { fs: { ...nodeFs, readFile: (path) => (reads.push(basename(path)), nodeFs.readFile(path)) }, reads }
}

/** Resolves once the reader tells its listeners that new events are durable (rejects after 5 s without a word). */
function nextDurable(reader: SourceReader<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listener was told of a durable event within 5 s')), 5000)
    const off = reader.onDataAvailable!(() => (clearTimeout(timer), off(), resolve()))
  })
}

/** Writes a segment file by hand, one line per entry, each ended by a newline. */
const writeSegment = (log: string, first: number, lines: string[]) => writeFile(join(log, segment(first)), lines.map((l) => `${l}\n`).join(''))
const numbers = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => String(from + i))

describe('fromObservable', () => {
  it('is described and identified by its log directory', () => {
    const s = fromObservable(new Subject<number>(), { codec: t.number, log: '/var/wal' })
    expect(s.description).toBe('ObservableSource[/var/wal]')
    expect(s.kind).toBe('observable')
    expect(s.identity).toBe('/var/wal')
  })

  it('refuses an offset that is not an event count, naming it', async () => {
    const reader = await fromObservable(new Subject<number>(), { codec: t.number, log: await tempDir('wal') }).open(ctx)
    for (const bad of [-1, 0.5, '1']) {
      await expect(reader.latestOffset(bad as never, 'all')).rejects.toThrow(new TypeError(`fromObservable: offset must be an event count, got ${JSON.stringify(bad)}`))
    }
    expect(reader.initialOffset()).toBe(0)
    expect(await reader.latestOffset(5, 'all')).toBe(5)
    await reader.stop()
  })

  it('availableNow fixes the end at the events logged when prepared', async () => {
    const events = new Subject<number>()
    const reader = await fromObservable(events, { codec: t.number, log: await tempDir('wal') }).open(ctx)
    events.next(1)
    events.next(2)
    await reader.prepareForTriggerAvailableNow!()
    events.next(3)
    await reader.stop()
    expect(await reader.latestOffset(0, 'all')).toBe(2)
  })

  it('tells its listeners once an event is durable, and no longer after they unsubscribe', async () => {
    const events = new Subject<number>()
    const reader = await fromObservable(events, { codec: t.number, log: await tempDir('wal') }).open(ctx)
    let calls = 0
    const off = reader.onDataAvailable!(() => calls++)
    events.next(1)
    await reader.prepareForTriggerAvailableNow!()
    expect(calls).toBe(1)
    off()
    events.next(2)
    await reader.prepareForTriggerAvailableNow!()
    expect(calls).toBe(1)
    await reader.stop()
  })

  it('an error of the observable fails latestOffset with that error', async () => {
    const events = new Subject<number>()
    const reader = await fromObservable(events, { codec: t.number, log: await tempDir('wal') }).open(ctx)
    const boom = new Error('boom')
    events.error(boom)
    await expect(reader.latestOffset(0, 'all')).rejects.toBe(boom)
    await reader.stop()
  })

  it('an event failing the codec fails latestOffset with a BadRecordError naming it by its index among the events', async () => {
    const events = new Subject<unknown>()
    const reader = await fromObservable(events as Subject<number>, { codec: t.number, log: await tempDir('wal') }).open(ctx)
    events.next(1)
    events.next(2)
    events.next('three') // the first two are still pending: it is event #2 all the same
    await reader.prepareForTriggerAvailableNow!()
    const error: unknown = await reader.latestOffset(0, 'all').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadRecordError)
    expect(error).toMatchObject({ file: 'observable event #2', line: 0, codecPath: '(root)' })
    await reader.stop()
  })

  it('recovers from segment files only: a temp file or another name that merely contains a segment name is ignored', async () => {
    const log = await tempDir('wal')
    await writeSegment(log, 0, ['0', '1', '2'])
    await writeFile(join(log, `${segment(0)}.tmp`), '7\n8\n9\n10\n')
    await writeFile(join(log, `x${segment(0)}`), '7\n8\n9\n10\n')
    const events = new Subject<number>()
    const reader = await fromObservable(events, { codec: t.number, log }).open({ ...ctx, restarting: true })
    expect(await reader.latestOffset(0, 'all')).toBe(3)
    expect(await reader.getBatch(0, 3)).toEqual([0, 1, 2])
    await reader.commit(1)
    events.next(3)
    await reader.prepareForTriggerAvailableNow!()
    expect(await reader.getBatch(1, 4)).toEqual([1, 2, 3])
    expect(await readFile(join(log, segment(0)), 'utf8')).toBe('0\n1\n2\n3\n')
    expect(await readdir(log)).toEqual([segment(0), `${segment(0)}.tmp`, `x${segment(0)}`])
    await reader.stop()
  })

  it('recovery cuts a torn last line and does not count it, and rewrites nothing when the log is intact', async () => {
    const log = await tempDir('wal')
    const rewrites: string[] = []
    const fs: CheckpointFs = { ...nodeFs, writeFileAtomic: (path, data, before) => (rewrites.push(basename(path)), nodeFs.writeFileAtomic(path, data, before)) }
    await writeSegment(log, 0, numbers(0, 10_000))
    await writeFile(join(log, segment(10_000)), '10000\n10001\n100')
    const torn = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, fs, restarting: true })
    expect(await torn.latestOffset(0, 'all')).toBe(10_002)
    expect(rewrites).toEqual([segment(10_000)])
    expect(await readFile(join(log, segment(10_000)), 'utf8')).toBe('10000\n10001\n')
    await torn.stop()
    const intact = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, fs, restarting: true })
    expect(await intact.latestOffset(0, 'all')).toBe(10_002)
    expect(rewrites).toEqual([segment(10_000)])
    await intact.stop()
  })

  it('a last segment that vanishes between listing and reading counts as empty, and is not created again', async () => {
    const log = await tempDir('wal')
    const fs: CheckpointFs = { ...nodeFs, readdir: async (path) => (path === log ? [segment(5)] : nodeFs.readdir(path)) }
    const reader = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, fs, restarting: true })
    expect(await reader.latestOffset(0, 'all')).toBe(5)
    expect(await readdir(log)).toEqual([])
    await reader.stop()
  })

  it('serves events this process logged from memory until they are committed, and a range past the end of the log gives each logged event once', async () => {
    const log = await tempDir('wal')
    const { fs, reads } = countingReads()
    const events = new Subject<number>()
    const reader = await fromObservable(events, { codec: t.number, log }).open({ ...ctx, fs })
    const first = nextDurable(reader)
    events.next(0)
    await first
    events.next(1)
    events.next(2)
    await reader.prepareForTriggerAvailableNow!()
    expect(await readdir(log)).toEqual([segment(0)])
    expect(await reader.getBatch(0, 1)).toEqual([0])
    expect(await reader.getBatch(1, 3)).toEqual([1, 2])
    await reader.commit(2)
    expect(await reader.getBatch(2, 3)).toEqual([2])
    expect(reads).toEqual([])
    // Committed events are forgotten: reading them again goes to the segment file.
    expect(await reader.getBatch(0, 2)).toEqual([0, 1])
    expect(reads).toEqual([segment(0)])
    // A range past the end of the log asks for events that were never durable: an error, not a short batch.
    await expect(reader.getBatch(1, 5)).rejects.toThrow(new CheckpointCorruptedError(log, 'events 1 to 4 were asked for, but the log holds only 2 of them'))
    await reader.stop()
  })

  it('fails a read that a damaged segment cannot fill, naming the log, instead of returning a short batch', async () => {
    const log = await tempDir('wal')
    // Segment 0 lost its last two events (a full segment holds 10,000); segment 10000 is whole.
    await writeSegment(log, 0, numbers(0, 9_998))
    await writeSegment(log, 10_000, ['10000', '10001'])
    const reader = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, restarting: true })
    expect(await reader.getBatch(9_990, 9_998)).toEqual(numbers(9_990, 9_998).map(Number))
    await expect(reader.getBatch(9_996, 10_002)).rejects.toThrow(
      new CheckpointCorruptedError(log, 'events 9996 to 10001 were asked for, but the log holds only 4 of them'),
    )
    await reader.stop()
  })

  it('after a restart reads only the segment files a range needs, whatever the order of the listing', async () => {
    const log = await tempDir('wal')
    await writeSegment(log, 0, numbers(0, 10_000))
    await writeSegment(log, 10_000, ['10000', '10001'])
    const { fs: counting, reads } = countingReads()
    const fs: CheckpointFs = { ...counting, readdir: async (path) => (await nodeFs.readdir(path)).reverse() }
    const reader = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, fs, restarting: true })
    expect(await reader.latestOffset(0, 'all')).toBe(10_002)
    reads.length = 0
    expect(await reader.getBatch(10_000, 10_002)).toEqual([10_000, 10_001])
    expect(reads).toEqual([segment(10_000)])
    reads.length = 0
    expect(await reader.getBatch(9_998, 10_000)).toEqual([9_998, 9_999])
    expect(reads).toEqual([segment(0)])
    await reader.stop()
  })

  it('names the segment file and the line within it of a logged event that fails the codec or is not JSON', async () => {
    const log = await tempDir('wal')
    const first = numbers(0, 10_000)
    first[4] = '"four"'
    await writeSegment(log, 0, first)
    await writeSegment(log, 10_000, ['"ten thousand"', '10001', '{"torn'])
    const reader = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, restarting: true })
    const failure = (start: number, end: number) => reader.getBatch(start, end).then(() => undefined, (e: unknown) => e)
    const inFirst = await failure(0, 5)
    expect(inFirst).toBeInstanceOf(BadRecordError)
    expect(inFirst).toMatchObject({ file: join(log, segment(0)), line: 5, codecPath: '(root)' })
    expect(await failure(10_000, 10_001)).toMatchObject({ file: join(log, segment(10_000)), line: 1, codecPath: '(root)' })
    const notJson = await failure(10_001, 10_003)
    expect(notJson).toBeInstanceOf(BadRecordError)
    expect(notJson).toMatchObject({ file: join(log, segment(10_000)), line: 3, codecPath: '', reason: expect.stringMatching(/^malformed JSON: \S/) })
    await reader.stop()
  })

  it('starts a new segment every 10,000 events, reads across segments after a restart, and a commit deletes whole segments below it', async () => {
    const log = await tempDir('wal')
    const events = new Subject<number>()
    const { fs, reads } = countingReads()
    const first = await fromObservable(events, { codec: t.number, log }).open({ ...ctx, fs })
    // One event alone first: the next write starts at 1, so only 9,999 of the 10,001 events that follow fit in the segment.
    const durable = nextDurable(first)
    events.next(0)
    await durable
    for (let i = 1; i < 10_002; i++) events.next(i)
    await first.stop()
    expect(await first.latestOffset(0, 'all')).toBe(10_002)
    expect((await readdir(log)).sort()).toEqual([segment(0), segment(10_000)])
    expect((await readFile(join(log, segment(10_000)), 'utf8')).split('\n')).toEqual(['10000', '10001', ''])
    // A range reaching past the end of the log, partly in memory: only the segment where memory ran out is looked at,
    // and the events missing from it fail the read.
    reads.length = 0
    await expect(first.getBatch(10_000, 10_003)).rejects.toThrow('events 10000 to 10002 were asked for, but the log holds only 2 of them')
    expect(reads).toEqual([segment(10_000)])

    const again = await fromObservable(new Subject<number>(), { codec: t.number, log }).open({ ...ctx, restarting: true })
    expect(await again.latestOffset(0, 'all')).toBe(10_002)
    expect(await again.getBatch(9_998, 10_002)).toEqual([9_998, 9_999, 10_000, 10_001])
    expect(await again.getBatch(10_000, 10_001)).toEqual([10_000])
    expect(await again.getBatch(3, 5)).toEqual([3, 4])
    await again.commit(9_999)
    expect((await readdir(log)).sort()).toEqual([segment(0), segment(10_000)])
    await again.commit(10_000)
    expect(await readdir(log)).toEqual([segment(10_000)])
    expect(await again.getBatch(10_000, 10_002)).toEqual([10_000, 10_001])
    await again.stop()
  })
})
