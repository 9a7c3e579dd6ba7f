/**
 * A checkpoint of format v1 (one state file per partition per batch) is upgraded in place to v2 (one state file per
 * operator per batch) the first time a query runs on it — and a crash at any step of that first run, the upgrade
 * included, leaves a checkpoint that a restart brings to exactly the state of an uncrashed run.
 */
import { cp, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadEncodedState } from '../../src/checkpoint/reader.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { createSession, memorySink, memorySource } from '../../src/index.js'
import { countingFs, faultyFs, type FaultKind, SimulatedCrash } from '../../src/testing.js'
import { aggregateUpdate, goldenRoot, goldenSession, type MemoryGolden, pendingBatch } from '../fixtures/golden.js'
import { sale, type Sale } from '../fixtures/upgradeSupport.js'
import { useTempDir } from './tempDir.js'

const temp = useTempDir()
let copies = 0

async function v1Copy(golden: MemoryGolden<unknown>): Promise<string> {
  const copy = join(temp(), `${golden.name}-${copies++}`)
  await cp(join(goldenRoot(1), golden.name), copy, { recursive: true })
  return copy
}

const MORE: readonly Sale[] = [sale('a', 10), sale('d', 1)]

/** Runs the golden query on `location` through `fs` with `rows` (the fixture's and one more batch); a crash is expected. */
async function runOnce(
  location: string,
  golden: MemoryGolden<unknown>,
  fs: CheckpointFs,
  rows: readonly Sale[] = [...golden.batches.flat(), ...MORE],
): Promise<void> {
  const input = memorySource<Sale>()
  input.addData(rows)
  const query = await golden
    .build(createSession({ ...goldenSession, fs, warn: () => {} }).readStream(input.source))
    .writeStream({ outputMode: golden.outputMode, sink: memorySink(), checkpointLocation: location })
    .start()
  try {
    await query.processAllAvailable()
  } finally {
    await query.stop().catch(() => undefined)
  }
}

/** The encoded state of every operator as of the last committed batch, by partition and key id. */
async function stateOf(location: string): Promise<unknown> {
  const report = await inspectCheckpoint(location)
  const out: Record<string, unknown> = { lastCommitted: report.batches.lastCommitted, pending: report.batches.pending }
  for (const op of report.operators) {
    const { partitions } = await loadEncodedState(nodeFs, location, op.name, report.stateAtBatch ?? undefined, report.shufflePartitions, report.formatVersion)
    out[op.name] = partitions.map((p) => Object.fromEntries([...p.entries].sort(([a], [b]) => (a < b ? -1 : 1))))
  }
  return out
}

/** The operator directories' entries (without the temp files of torn writes, which are never read). */
async function stateDirEntries(location: string): Promise<string[]> {
  const names: string[] = []
  for (const op of await readdir(join(location, 'state'))) {
    for (const name of await readdir(join(location, 'state', op))) if (!name.startsWith('.')) names.push(`${op}/${name}`)
  }
  return names.sort()
}

describe.each([aggregateUpdate, pendingBatch])('upgrading the v1 golden checkpoint $name', (golden) => {
  it('writes format v2 in metadata, replaces the per-partition directories by one file per batch and continues', async () => {
    const location = await v1Copy(golden)
    expect((await inspectCheckpoint(location)).formatVersion).toBe(1)
    const before = await stateOf(location)
    await runOnce(location, golden, nodeFs)
    const report = await inspectCheckpoint(location)
    expect(report.formatVersion).toBe(2)
    expect(report.fingerprint.formatVersion).toBe(2)
    for (const entry of await stateDirEntries(location)) expect(entry).toMatch(/^[^/]+\/\d+\.(delta|snapshot)$/)
    expect(report.batches.pending).toEqual([])
    expect(await stateOf(location)).not.toEqual(before)
  })

  const kinds: FaultKind[] = ['crashBefore', 'crashAfter', 'tornWrite']
  it.each(kinds)('a %s at any write of the first run leaves a checkpoint a restart completes exactly', async (kind) => {
    const reference = await v1Copy(golden)
    await runOnce(reference, golden, nodeFs)
    const expected = await stateOf(reference)

    let crashes = 0
    for (let at = 0; ; at++) {
      const location = await v1Copy(golden)
      const fs = faultyFs(nodeFs, { at, kind }, { root: location })
      await runOnce(location, golden, fs).catch((error: unknown) => {
        if (!fs.crashed && !(error instanceof SimulatedCrash)) throw error
      })
      if (!fs.crashed) break
      crashes++
      await runOnce(location, golden, nodeFs)
      expect(await stateOf(location), `after ${fs.ops.at(-1)}`).toEqual(expected)
      expect((await inspectCheckpoint(location)).formatVersion).toBe(2)
      for (const entry of await stateDirEntries(location)) expect(entry, `after ${fs.ops.at(-1)}`).toMatch(/^[^/]+\/\d+\.(delta|snapshot)$/)
    }
    // The first run's writes: the lock, the upgrade's snapshot and metadata, the old directories' removal, the batches.
    expect(crashes).toBeGreaterThan(5)
  })
})

/**
 * A v1 copy of the golden aggregate-update checkpoint as a query stopped early left it: offsets of batch 0, and its
 * commit and state files when `committed` (batch 0 wrote a delta of each partition).
 */
async function v1AfterBatchZero(committed: boolean): Promise<string> {
  const location = await v1Copy(aggregateUpdate)
  for (const id of ['1', '2', '3']) {
    await rm(join(location, 'offsets', id))
    await rm(join(location, 'commits', id))
  }
  if (!committed) await rm(join(location, 'commits', '0'))
  for (const p of ['0', '1']) {
    for (const name of await readdir(join(location, 'state', 'agg', p))) {
      if (!committed || name !== '0.delta') await rm(join(location, 'state', 'agg', p, name))
    }
  }
  return location
}

describe('upgrading a v1 checkpoint stopped after its first batch', () => {
  const batchZero = aggregateUpdate.batches[0]!

  it('keeps the state of batch 0 when batch 0 is the only committed one', async () => {
    const location = await v1AfterBatchZero(true)
    const before = await stateOf(location)
    expect(before).toMatchObject({ lastCommitted: 0, agg: [expect.anything(), expect.anything()] })
    // No new input: the run only recovers (and upgrades), then stops.
    await runOnce(location, aggregateUpdate, nodeFs, batchZero)
    expect((await inspectCheckpoint(location)).formatVersion).toBe(2)
    expect(await stateOf(location)).toEqual(before)
  })

  it('re-runs batch 0 when nothing was committed, writing no state file for a batch before it', async () => {
    const committed = await stateOf(await v1AfterBatchZero(true))
    const location = await v1AfterBatchZero(false)
    await runOnce(location, aggregateUpdate, nodeFs, batchZero)
    expect((await inspectCheckpoint(location)).formatVersion).toBe(2)
    // The fingerprint records the format version, so the first batch after the upgrade writes a snapshot.
    expect(await stateDirEntries(location)).toEqual(['agg/0.snapshot'])
    expect(await stateOf(location)).toEqual(committed)
  })
})

describe('metadata writes of an upgraded checkpoint', () => {
  it('rewrites metadata at the upgrade and after the first batch under the new fingerprint commits, then not again', async () => {
    const location = await v1Copy(aggregateUpdate)
    const fs = countingFs(nodeFs, { root: location })
    const input = memorySource<Sale>()
    input.addData(aggregateUpdate.batches.flat())
    const query = await aggregateUpdate
      .build(createSession({ ...goldenSession, fs, warn: () => {} }).readStream(input.source))
      .writeStream({ outputMode: aggregateUpdate.outputMode, sink: memorySink(), checkpointLocation: location })
      .start()
    for (const row of [...MORE, sale('e', 2)]) {
      input.addData([row])
      await query.processAllAvailable()
    }
    await query.stop()
    expect(query.lastProgress?.batchId).toBe(6)
    const metadataWrites = fs.ops.flatMap((op, at) => (op.includes('metadata') ? [at] : []))
    expect(metadataWrites.map((at) => fs.ops[at])).toEqual(['writeFileAtomic metadata', 'writeFileAtomic metadata'])
    // The fingerprint (which records the format version) is recorded once batch 4, the first under it, committed.
    expect(metadataWrites[1]).toBeGreaterThan(fs.ops.indexOf('writeFileAtomic commits/4'))
    expect(metadataWrites[1]).toBeLessThan(fs.ops.indexOf('writeFileAtomic commits/5'))
  })
})
