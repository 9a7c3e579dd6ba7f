/**
 * memorySource at its edges: its names, the rate limit and its check, availableNow, the wake-up listeners, the
 * offsets it refuses, and the rows arrays it hands on.
 */
import { describe, expect, it } from 'vitest'
import { memorySource, nodeFs, type SourceReader } from '../../src/index.js'

const open = <T>(m: { source: { open: (ctx: never) => Promise<SourceReader<T>> } }) =>
  m.source.open({ fs: nodeFs, logDir: undefined, restarting: false } as never)

describe('memorySource names', () => {
  it('a named source is described, and identified, by its name', () => {
    const m = memorySource<number>({ name: 'clicks' })
    expect(m.source.description).toBe('MemorySource[clicks]')
    expect(m.source.identity).toBe('clicks')
    expect(m.source.kind).toBe('memory')
  })

  it('unnamed sources are told apart by a number, and share the identity "memory"', () => {
    const a = memorySource<number>().source
    const b = memorySource<number>().source
    expect(a.description).toMatch(/^MemorySource\[\d+\]$/)
    expect(b.description).toMatch(/^MemorySource\[\d+\]$/)
    expect(a.description).not.toBe(b.description)
    expect(a.identity).toBe('memory')
  })
})

describe('memorySource maxRowsPerTrigger', () => {
  it('refuses 0 and fractions, naming the value, and accepts 1', () => {
    for (const bad of [0, -2, 1.5]) {
      expect(() => memorySource({ maxRowsPerTrigger: bad })).toThrow(
        new RangeError(`memorySource: maxRowsPerTrigger must be a positive integer, got ${bad}`),
      )
    }
    expect(() => memorySource({ maxRowsPerTrigger: 1 })).not.toThrow()
  })

  it('caps a default batch at the limit past its start, but not an "all" batch', async () => {
    const m = memorySource<number>({ maxRowsPerTrigger: 2 })
    const r = await open(m)
    m.addData([1, 2, 3, 4, 5])
    expect(await r.latestOffset(0, 'default')).toBe(2)
    expect(await r.latestOffset(2, 'default')).toBe(4)
    expect(await r.latestOffset(4, 'default')).toBe(5)
    expect(await r.latestOffset(0, 'all')).toBe(5)
  })

  it('without a limit, a default batch takes every row', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    m.addData([1, 2, 3])
    expect(await r.latestOffset(1, 'default')).toBe(3)
  })

  it('never ends a batch before its start (a start past the rows this process has)', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    m.addData([1, 2])
    expect(await r.latestOffset(5, 'default')).toBe(5)
    expect(await r.latestOffset(5, 'all')).toBe(5)
  })
})

describe('memorySource availableNow', () => {
  it('fixes the end at the rows present when prepared, until the reader stops', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    m.addData([1, 2])
    await r.prepareForTriggerAvailableNow!()
    m.addData([3])
    expect(await r.latestOffset(0, 'all')).toBe(2)
    await r.stop()
    expect(await r.latestOffset(0, 'all')).toBe(3)
  })
})

describe('memorySource addData', () => {
  it('returns the offset after the rows, and an empty add changes nothing', () => {
    const m = memorySource<number>()
    expect(m.addData([1, 2])).toBe(2)
    expect(m.addData([])).toBe(2)
    expect(m.addData(new Set([3, 4, 5]))).toBe(5)
  })

  it('wakes every listener on each add, until it unsubscribes', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    const calls: string[] = []
    const offA = r.onDataAvailable!(() => calls.push('a'))
    r.onDataAvailable!(() => calls.push('b'))
    m.addData([1])
    offA()
    m.addData([2])
    expect(calls).toEqual(['a', 'b', 'b'])
  })

  it('reads a non-array iterable at once, so later changes to it are not seen', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    const rows = new Set([1, 2])
    m.addData(rows)
    rows.add(3)
    expect(await r.getBatch(0, 2)).toEqual([1, 2])
    expect(await r.latestOffset(0, 'all')).toBe(2)
  })

  it('hands on a batch that is exactly one add as that very array, and a part of it as a copy', async () => {
    const m = memorySource<number>()
    const r = await open(m)
    const first = [1, 2, 3]
    const second = [4, 5]
    m.addData(first)
    m.addData(second)
    expect(await r.getBatch(0, 3)).toBe(first)
    expect(await r.getBatch(3, 5)).toBe(second)
    const part = await r.getBatch(1, 3)
    expect(part).toEqual([2, 3])
    expect(part).not.toBe(first)
    expect(await r.getBatch(2, 5)).toEqual([3, 4, 5])
    expect(await r.getBatch(3, 3)).toEqual([])
  })
})

describe('memorySource offsets', () => {
  it('refuses an offset that is not a row count, naming it', async () => {
    const r = await open(memorySource<number>())
    for (const bad of [-1, 1.5, '2', null]) {
      await expect(r.getBatch(bad as never, 3)).rejects.toThrow(
        new TypeError(`memorySource: offset must be a row count, got ${JSON.stringify(bad)}`),
      )
    }
    await expect(r.latestOffset(-1, 'all')).rejects.toThrow('memorySource: offset must be a row count, got -1')
    expect(r.initialOffset()).toBe(0)
    await expect(r.getBatch(0, 0)).resolves.toEqual([])
  })
})
