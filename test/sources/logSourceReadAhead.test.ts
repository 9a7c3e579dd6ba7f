/**
 * logSource's reads under a rate limit, call by call: `latestOffset` reads the entries that decide the end offset and
 * starts reading the next range ahead; `getBatch` for that range takes the entries read, and the next `latestOffset`
 * takes the range read ahead (reading only what it lacks). A log that records every `readRange` shows each read.
 */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { nodeFs } from '../../src/index.js'
import { type LogEntry, logSource, type PartitionedLog } from '../../src/sources/logSource.js'
import type { SourceReader } from '../../src/sources/source.js'

/** `readRange(p, after, end, max)` calls as `p:after..end/max`. */
type Read = string

/** A log of numbers whose partitions grow on `append`, recording every read; the reads numbered in `failing` reject. */
function recordingLog(partitions: number) {
  const data: number[][] = Array.from({ length: partitions }, () => [])
  const reads: Read[] = []
  const failing = new Set<number>()
  const log: PartitionedLog = {
    partitions: data.map((_, p) => `p${p}`),
    initialPosition: 0,
    describe: (p) => `log p${p}`,
    latestPosition: async (p) => data[p]!.length,
    readRange(p, after, end, max): Promise<LogEntry[]> {
      reads.push(`${p}:${String(after)}..${String(end)}/${max}`)
      if (failing.has(reads.length - 1)) return Promise.reject(new Error(`read ${reads.length - 1} failed`))
      const out: LogEntry[] = []
      for (let i = (after as number) + 1; i <= (end as number) && out.length < max; i++) out.push({ position: i, text: String(data[p]![i - 1]) })
      return Promise.resolve(out)
    },
    close: async () => undefined,
  }
  return {
    log,
    reads,
    /** Appends `count` values to partition p: 100·p + 1, 100·p + 2, … */
    append(p: number, count: number) {
      for (let i = 0; i < count; i++) data[p]!.push(100 * p + data[p]!.length + 1)
    },
    /** Makes the reads with these indexes (0 for the first read) reject. */
    fail(...indexes: number[]) {
      for (const i of indexes) failing.add(i)
    },
  }
}

async function open(log: PartitionedLog, maxPerTrigger: number | undefined): Promise<SourceReader<number>> {
  const source = logSource<number>(
    { description: 'Rec[x]', kind: 'rec', identity: 'x', connector: 'rec', maxPerTrigger, maxOptionName: 'max', isTransient: () => false, open: async () => log },
    { codec: t.number },
  )
  return source.open({ fs: nodeFs, logDir: undefined, restarting: false })
}

/** Lets the reads started in the background settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('logSource read-ahead', () => {
  it('starts reading the next range while choosing an end, and the next latestOffset takes it without reading again', async () => {
    const r = recordingLog(1)
    r.append(0, 5)
    const reader = await open(r.log, 2)
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(first).toEqual({ p0: 2 })
    // The entries of this batch, then the next range, already asked for.
    expect(r.reads).toEqual(['0:0..5/2', '0:2..5/2'])
    await settle()
    const second = await reader.latestOffset(first, 'default')
    expect(second).toEqual({ p0: 4 })
    expect(r.reads).toEqual(['0:0..5/2', '0:2..5/2', '0:4..5/2'])
    expect(await reader.getBatch(first, second)).toEqual([3, 4])
    expect(r.reads).toHaveLength(3)
  })

  it('getBatch right after latestOffset takes the entries latestOffset read, and a batch of another range reads for itself', async () => {
    const r = recordingLog(1)
    r.append(0, 5)
    const reader = await open(r.log, 2)
    const start = reader.initialOffset()
    const end = await reader.latestOffset(start, 'default')
    const reads = r.reads.length
    expect(await reader.getBatch(start, end)).toEqual([1, 2])
    expect(r.reads).toHaveLength(reads)
    // The entries read ahead serve one getBatch: asked again (a batch re-run), the range is read whole.
    expect(await reader.getBatch(start, end)).toEqual([1, 2])
    expect(r.reads.slice(reads)).toEqual(['0:0..2/Infinity'])
    expect(await reader.getBatch({ p0: 1 }, { p0: 3 })).toEqual([2, 3])
    expect(r.reads.slice(reads + 1)).toEqual(['0:1..3/Infinity'])
  })

  it('reads a range whose read-ahead ended short only for what was appended since', async () => {
    const r = recordingLog(1)
    r.append(0, 4)
    const reader = await open(r.log, 3)
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(first).toEqual({ p0: 3 })
    await settle()
    // The read-ahead of (3, 4] returned one entry of the three asked: it covered its range.
    const second = await reader.latestOffset(first, 'default')
    expect(second).toEqual({ p0: 4 })
    expect(r.reads).toEqual(['0:0..4/3', '0:3..4/3'])
    r.append(0, 3)
    const third = await reader.latestOffset(second, 'default')
    expect(third).toEqual({ p0: 7 })
    expect(await reader.getBatch(second, third)).toEqual([5, 6, 7])
    expect(r.reads).toEqual(['0:0..4/3', '0:3..4/3', '0:4..7/3'])
  })

  it('tops up a short read-ahead when the partition has grown since it was asked for', async () => {
    const r = recordingLog(1)
    r.append(0, 4)
    const reader = await open(r.log, 3)
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    await settle()
    r.append(0, 3)
    const second = await reader.latestOffset(first, 'default')
    expect(second).toEqual({ p0: 6 })
    // Entry 4 came from the read-ahead of (3, 4]; 5 and 6 are read now, from 4, two of them.
    expect(r.reads).toEqual(['0:0..4/3', '0:3..4/3', '0:4..7/2', '0:6..7/3'])
    expect(await reader.getBatch(first, second)).toEqual([4, 5, 6])
  })

  it('ignores a read-ahead that does not start where the batch does, reading the range itself', async () => {
    const r = recordingLog(1)
    r.append(0, 5)
    const reader = await open(r.log, 2)
    const start = reader.initialOffset()
    await reader.latestOffset(start, 'default')
    await settle()
    // The batch is planned again from the same start (a restart before it committed).
    expect(await reader.latestOffset(start, 'default')).toEqual({ p0: 2 })
    expect(r.reads).toEqual(['0:0..5/2', '0:2..5/2', '0:0..5/2', '0:2..5/2'])
    expect(await reader.getBatch(start, { p0: 2 })).toEqual([1, 2])
  })

  it('drops a failed read-ahead: the next latestOffset reads the range itself, and meets the error if it persists', async () => {
    const r = recordingLog(1)
    r.append(0, 7)
    // Read 1 (the first read-ahead) fails once; reads 3 and 4 (the next read-ahead and the read that replaces it) both fail.
    r.fail(1, 3, 4)
    const reader = await open(r.log, 2)
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(r.reads).toEqual(['0:0..7/2', '0:2..7/2'])
    await settle()
    const second = await reader.latestOffset(first, 'default')
    expect(second).toEqual({ p0: 4 })
    expect(r.reads.slice(2)).toEqual(['0:2..7/2', '0:4..7/2'])
    expect(await reader.getBatch(first, second)).toEqual([3, 4])
    await settle()
    await expect(reader.latestOffset(second, 'default')).rejects.toThrow(new Error('read 4 failed'))
    expect(r.reads.slice(3)).toEqual(['0:4..7/2', '0:4..7/2'])
  })

  it('keeps what a read-ahead holds beyond a smaller share for the next batch', async () => {
    const r = recordingLog(2)
    r.append(0, 10)
    r.append(1, 10)
    const reader = await open(r.log, 4)
    // Two partitions with data share 4: 2 each. Each reads ahead up to 4 entries.
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(first).toEqual({ p0: 2, p1: 2 })
    expect(r.reads).toEqual(['1:0..10/2', '0:0..10/2', '0:2..10/4', '1:2..10/4'])
    await settle()
    const second = await reader.latestOffset(first, 'default')
    expect(second).toEqual({ p0: 4, p1: 4 })
    expect(await reader.getBatch(first, second)).toEqual([3, 4, 103, 104])
    // Entries 5 and 6 of each partition are still held: no new read-ahead, no read.
    expect(r.reads).toHaveLength(4)
    await settle()
    const third = await reader.latestOffset(second, 'default')
    expect(third).toEqual({ p0: 6, p1: 6 })
    expect(await reader.getBatch(second, third)).toEqual([5, 6, 105, 106])
    expect(r.reads.slice(4)).toEqual(['0:6..10/4', '1:6..10/4'])
  })
})

describe('logSource rate limit shares', () => {
  it('tops up the rest of a read-ahead held for a smaller share when the partition\'s share grows', async () => {
    const r = recordingLog(2)
    r.append(0, 10)
    r.append(1, 4)
    const reader = await open(r.log, 4)
    const first = await reader.latestOffset(reader.initialOffset(), 'default')
    await settle()
    const second = await reader.latestOffset(first, 'default')
    expect([first, second]).toEqual([{ p0: 2, p1: 2 }, { p0: 4, p1: 4 }])
    expect(r.reads).toEqual(['1:0..4/2', '0:0..10/2', '0:2..10/4', '1:2..4/4'])
    await settle()
    // Partition 1 is done, so partition 0 gets all 4: entries 5 and 6 were held from its read-ahead of 4, 7 and 8
    // are read now.
    const third = await reader.latestOffset(second, 'default')
    expect(third).toEqual({ p0: 8, p1: 4 })
    expect(r.reads.slice(4)).toEqual(['0:6..10/2', '0:8..10/4'])
    expect(await reader.getBatch(second, third)).toEqual([5, 6, 7, 8])
  })

  it('gives a partition without new entries no share and no read; the others share the limit', async () => {
    const r = recordingLog(2)
    r.append(0, 10)
    const reader = await open(r.log, 4)
    const end = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(end).toEqual({ p0: 4, p1: 0 })
    expect(r.reads).toEqual(['0:0..10/4', '0:4..10/4'])
  })

  it('rotates which partition comes first, so a limit of 1 alternates between partitions', async () => {
    const r = recordingLog(3)
    for (const p of [0, 1, 2]) r.append(p, 3)
    const reader = await open(r.log, 1)
    let offset = reader.initialOffset()
    const batches: number[][] = []
    for (let i = 0; i < 4; i++) {
      const end = await reader.latestOffset(offset, 'default')
      batches.push(await reader.getBatch(offset, end))
      offset = end
      await settle()
    }
    expect(batches).toEqual([[101], [201], [1], [102]])
  })

  it('with limit 2 over three partitions, gives at least one entry to each in turn until the limit is used', async () => {
    const r = recordingLog(3)
    for (const p of [0, 1, 2]) r.append(p, 3)
    const reader = await open(r.log, 2)
    const end = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(end).toEqual({ p0: 0, p1: 1, p2: 1 })
    expect(await reader.getBatch(reader.initialOffset(), end)).toEqual([101, 201])
  })

  it('reads nothing ahead for the limit "all" or without a limit: the end is each partition\'s latest position', async () => {
    for (const max of [3, undefined]) {
      const r = recordingLog(2)
      r.append(0, 5)
      r.append(1, 2)
      const reader = await open(r.log, max)
      const end = await reader.latestOffset(reader.initialOffset(), max === undefined ? 'default' : 'all')
      expect(end).toEqual({ p0: 5, p1: 2 })
      expect(r.reads).toEqual([])
      expect(await reader.getBatch(reader.initialOffset(), end)).toEqual([1, 2, 3, 4, 5, 101, 102])
      expect(r.reads).toEqual(['0:0..5/Infinity', '1:0..2/Infinity'])
    }
  })
})
