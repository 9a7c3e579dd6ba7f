/**
 * Where a restart resumes, read from the offset and commit logs: a pending batch re-runs with exactly its logged
 * offsets, and logs that cannot both be right are refused with the file and what is wrong.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { OffsetLogEntry } from '../../src/checkpoint/logs.js'
import { BatchLog } from '../../src/durable/batchLog.js'
import { CheckpointCorruptedError, createSession, foreachBatch, memorySource, nodeFs } from '../../src/index.js'
import { rejectionOf, useTempDir } from './tempDir.js'

const tempDir = useTempDir()
type Click = { user: string }

/** An append query from one memory source into foreachBatch, over the same checkpoint on every run. */
function appendQuery(dir: string) {
  const input = memorySource<Click>({ name: 'clicks' })
  const batches = new Map<number, string[]>()
  const start = () =>
    createSession({ shufflePartitions: 2 })
      .readStream(input.source)
      .writeStream({ outputMode: 'append', checkpointLocation: dir, sink: foreachBatch((rows: Click[], id) => void batches.set(id, rows.map((r) => r.user))) })
      .start()
  const run = async (...perBatch: string[][]) => {
    const q = await start()
    await q.processAllAvailable()
    for (const users of perBatch) {
      input.addData(users.map((user) => ({ user })))
      await q.processAllAvailable()
    }
    await q.stop()
  }
  return { input, batches, start, run, offsets: new BatchLog(nodeFs, join(dir, 'offsets'), OffsetLogEntry) }
}

describe('recovery from the logs', () => {
  it('re-runs a pending batch with its logged offsets, even when more input arrived before the restart', async () => {
    const query = appendQuery(tempDir())
    await query.run(['a', 'b'])
    const first = (await query.offsets.get(0))!
    // What a crash right after the write-ahead log of batch 1 leaves: offsets/1 covering c and d, no commit.
    query.input.addData([{ user: 'c' }, { user: 'd' }])
    await query.offsets.add(1, { ...first, batchId: 1, start: first.end, end: (first.end as number) + 2 })
    query.input.addData([{ user: 'e' }])
    await query.run()
    expect([...query.batches]).toEqual([[0, ['a', 'b']], [1, ['c', 'd']], [2, ['e']]])
  })

  it('refuses a commit log ahead of the offset log', async () => {
    const dir = tempDir()
    const query = appendQuery(dir)
    await query.run(['a'], ['b'])
    await rm(join(dir, 'offsets', '1'))
    const error = await rejectionOf(query.start())
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path: join(dir, 'commits', '1'), reason: 'batch 1 is committed but offsets/ ends at batch 0' })
  })

  it('refuses more pending batches than the write-ahead protocol allows, naming the first missing commit', async () => {
    const dir = tempDir()
    const query = appendQuery(dir)
    await query.run(['a'], ['b'], ['c'], ['d'])
    for (const id of [1, 2, 3]) await rm(join(dir, 'commits', String(id)))
    const partial = await rejectionOf(query.start())
    expect(partial).toBeInstanceOf(CheckpointCorruptedError)
    expect(partial).toMatchObject({
      path: join(dir, 'commits', '1'),
      reason: 'offsets/ ends at batch 3 but the commit log is missing entries (it ends at batch 0): restore commits/ from a backup, or start the query on a new checkpoint location',
    })
    await rm(join(dir, 'commits', '0'))
    expect(await rejectionOf(query.start())).toMatchObject({ path: join(dir, 'commits', '1'), reason: expect.stringContaining('(it has none)') })
  })

  it('refuses a pending batch whose offsets are missing from the middle of the log', async () => {
    const dir = tempDir()
    const query = appendQuery(dir)
    await query.run(['a'], ['b'], ['c'])
    const last = (await query.offsets.get(2))!
    await rm(join(dir, 'commits', '2'))
    await rm(join(dir, 'commits', '1'))
    await rm(join(dir, 'offsets', '1'))
    await query.offsets.add(2, last)
    const error = await rejectionOf(query.start())
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path: join(dir, 'offsets', '1'), reason: 'offsets of pending batch 1 are missing (the log continues at batch 2)' })
  })
})
