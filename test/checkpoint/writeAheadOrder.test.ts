/**
 * The write-ahead order seen from outside: a batch's offsets are durable before the sink gets any of its rows, so a
 * restart after a failed `offsets/N` write plans batch N again from the new input and the sink gets every row once.
 */
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  type CheckpointFs,
  count,
  createSession,
  groupBy,
  map,
  memorySink,
  memorySource,
  type MemorySource,
  type MemorySink,
  nodeFs,
  trigger,
} from '../../src/index.js'
import { countingFs, type FaultKind, faultyFs } from '../../src/testing.js'
import { losesDeltaKey, offsetsAfterSink } from '../laws/brokenEngines.js'
import { useTempDir } from './tempDir.js'

const temp = useTempDir()

async function drain(source: MemorySource<number>, sink: MemorySink<number>, location: string, fs: CheckpointFs): Promise<void> {
  const q = await createSession({ fs, shufflePartitions: 2, warn: () => {} })
    .readStream(source.source)
    .pipe(map((n: number) => n))
    .writeStream({ outputMode: 'append', sink, checkpointLocation: location, trigger: trigger.availableNow() })
    .start()
  await q.awaitTermination().catch(() => undefined)
  await q.stop()
}

/**
 * Five rows in batches of two (the last batch, `offsets/2`, has one row); the write of `offsets/2` fails with `kind`;
 * three more rows arrive; the query restarts. Returns what the sink holds.
 */
async function failOffsetsWriteThenRestart(kind: FaultKind, wrap: (fs: CheckpointFs) => CheckpointFs = (fs) => fs): Promise<number[]> {
  const dry = countingFs(nodeFs, { root: join(temp(), 'dry') })
  const dryInput = memorySource<number>({ maxRowsPerTrigger: 2 })
  dryInput.addData([1, 2, 3, 4, 5])
  await drain(dryInput, memorySink<number>(), join(temp(), 'dry'), wrap(dry))
  const at = dry.ops.indexOf('writeFileAtomic offsets/2')
  expect(at).toBeGreaterThan(0)

  // The commit log is written in the background, so `commits/1` may land before or after `offsets/2`: a run whose
  // crash hit another write is run again on a new location.
  for (let attempt = 0; ; attempt++) {
    const location = join(temp(), `checkpoint-${attempt}`)
    const input = memorySource<number>({ maxRowsPerTrigger: 2 })
    const sink = memorySink<number>()
    input.addData([1, 2, 3, 4, 5])
    const faulty = faultyFs(nodeFs, { at, kind }, { root: location })
    await drain(input, sink, location, wrap(faulty))
    if (faulty.ops[at] !== `writeFileAtomic offsets/2 [${kind}]`) {
      expect(attempt, `the crash hit ${faulty.ops[at]}, not offsets/2, ${attempt + 1} times`).toBeLessThan(9)
      continue
    }
    input.addData([6, 7, 8])
    await drain(input, sink, location, nodeFs)
    return sink.rows()
  }
}

describe('the write-ahead log before the sink', () => {
  it.each<FaultKind>(['ENOSPC', 'crashBefore', 'tornWrite'])(
    'after a failed offsets/N write (%s) and new input, the restart delivers every row exactly once, in batch order',
    async (kind) => {
      expect(await failOffsetsWriteThenRestart(kind)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    },
  )

  it('catches an engine that hands the batch to the sink before its offsets are durable (a row is lost)', async () => {
    expect(await failOffsetsWriteThenRestart('crashBefore', offsetsAfterSink)).toEqual([1, 2, 3, 4, 5, 7, 8])
  })
})

describe('a restart from deltas after more than 100 changed keys in one batch', () => {
  /** Counts 150 keys, then 250 keys in one batch, restarts from deltas, counts all 250 again; the final counts. */
  async function countsAfterRestart(fs: CheckpointFs): Promise<Map<string, number>> {
    const location = temp()
    const input = memorySource<{ k: string }>()
    const sink = memorySink<{ key: string; count: number }>()
    const keys = (n: number) => Array.from({ length: n }, (_, i) => ({ k: `k${i}` }))
    const start = () =>
      createSession({ fs, shufflePartitions: 4, snapshotInterval: 100, warn: () => {} })
        .readStream(input.source)
        .pipe(groupBy((r) => r.k, t.string), count())
        .writeStream({ outputMode: 'complete', sink, checkpointLocation: location })
        .start()
    const first = await start()
    for (const batch of [keys(150), keys(250)]) {
      input.addData(batch)
      await first.processAllAvailable()
    }
    await first.stop()
    const second = await start()
    input.addData(keys(250))
    await second.processAllAvailable()
    await second.stop()
    return new Map(sink.rows().map((r) => [r.key, r.count]))
  }

  it('restores every count exactly', async () => {
    const counts = await countsAfterRestart(nodeFs)
    expect(counts.size).toBe(250)
    for (let i = 0; i < 250; i++) expect([`k${i}`, counts.get(`k${i}`)]).toEqual([`k${i}`, i < 150 ? 3 : 2])
  })

  it('catches a store whose deltas lose a key', async () => {
    const counts = await countsAfterRestart(losesDeltaKey(nodeFs))
    const wrong = [...counts].filter(([key, n]) => n !== (Number(key.slice(1)) < 150 ? 3 : 2))
    expect(wrong.length).toBeGreaterThan(0)
  })
})
