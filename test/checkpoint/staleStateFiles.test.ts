/**
 * A batch re-run after a crash may legitimately produce other state changes than its crashed attempt: an upgrade may
 * change stateless functions (a bug fix) before the restart. The state files the crashed attempt wrote for batch N
 * must then not survive beside the re-run's, or a later restart restores state that was never committed.
 */
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  type CheckpointFs,
  filter,
  foreachBatch,
  groupBy,
  memorySource,
  nodeFs,
  StreamingQueryError,
} from '../../src/index.js'
import { faultyFs, SimulatedCrash } from '../../src/testing.js'
import { rejectionOf, useTempDir } from './tempDir.js'

type Row = { k: string; v: number }
type Count = { key: string; count: number }

describe('state files of a crashed attempt of a batch', () => {
  const dir = useTempDir()

  it('do not survive a re-run that changed fewer keys, so a later restart restores only committed state', async () => {
    const checkpoint = join(dir(), 'checkpoint')
    const source = memorySource<Row>()
    const byBatch = new Map<number, Count[]>()
    /** The query; version 2 fixes a bug by dropping rows with v = 1 (a stateless change, which upgrades allow). */
    const start = (fs: CheckpointFs, version: 1 | 2) =>
      createSession({ fs, shufflePartitions: 2, snapshotInterval: 10 })
        .readStream(source.source)
        .pipe(
          filter((r: Row) => version === 1 || r.v !== 1),
          groupBy((r: Row) => r.k, t.string),
          count(),
        )
        .writeStream({ outputMode: 'update', sink: foreachBatch<Count>((rows, id) => void byBatch.set(id, rows)), checkpointLocation: checkpoint })
        .start()
    const table = () => {
      const out: Record<string, number> = {}
      for (const [, rows] of [...byBatch].sort(([a], [b]) => a - b)) for (const r of rows) out[r.key] = r.count
      return out
    }

    // Batch 0 commits under version 1.
    const first = await start(nodeFs, 1)
    source.addData([{ k: 'a', v: 0 }])
    await first.processAllAvailable()
    await first.stop()

    // Batch 1 counts b, writes its state delta, and the process dies before commits/1. Its operations are: the lock,
    // offsets/1, the state delta of b's partition, commits/1.
    source.addData([{ k: 'b', v: 1 }])
    const doomedFs = faultyFs(nodeFs, { at: 3, kind: 'crashBefore' }, { root: checkpoint })
    const doomed = await start(doomedFs, 1)
    const error = await rejectionOf(doomed.processAllAvailable())
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as StreamingQueryError).cause).toBeInstanceOf(SimulatedCrash)
    expect(doomedFs.ops.at(-1)).toMatch(/^writeFileAtomic commits\/1 \[crashBefore\]$/)

    // Version 2 re-runs batch 1: the fixed filter drops b's row, so the batch changes nothing. Batch 2 counts a.
    const fixed = await start(nodeFs, 2)
    await fixed.processAllAvailable()
    source.addData([{ k: 'a', v: 2 }])
    await fixed.processAllAvailable()
    await fixed.stop()
    expect(table()).toEqual({ a: 2 })
    // A restart restores the state as committed: b was never counted, so its first counted row makes 1.
    const restarted = await start(nodeFs, 2)
    source.addData([{ k: 'b', v: 2 }])
    await restarted.processAllAvailable()
    await restarted.stop()
    expect(table()).toEqual({ a: 2, b: 1 })
  })
})
