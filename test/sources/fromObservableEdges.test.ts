/**
 * fromObservable at its edges: its names, the offsets it refuses, availableNow, and a log of more than one segment
 * (10,000 events each): where segments start, reads across a segment boundary after a restart, and which segments
 * a commit deletes.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { Subject } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { fromObservable, nodeFs } from '../../src/index.js'

const tempDir = useTempDirs()
const ctx = { fs: nodeFs, logDir: undefined, restarting: false }
const segment = (first: number) => `${String(first).padStart(20, '0')}.jsonl`

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

  it('starts a new segment every 10,000 events, reads across segments after a restart, and a commit deletes whole segments below it', async () => {
    const log = await tempDir('wal')
    const events = new Subject<number>()
    const first = await fromObservable(events, { codec: t.number, log }).open(ctx)
    for (let i = 0; i < 10_002; i++) events.next(i)
    await first.stop()
    expect(await first.latestOffset(0, 'all')).toBe(10_002)
    expect((await readdir(log)).sort()).toEqual([segment(0), segment(10_000)])
    expect((await readFile(join(log, segment(10_000)), 'utf8')).split('\n')).toEqual(['10000', '10001', ''])

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
