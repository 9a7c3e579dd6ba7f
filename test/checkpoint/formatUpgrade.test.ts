/**
 * A checkpoint of format v1 (one state file per partition per batch) is upgraded in place to v2 (one state file per
 * operator per batch) the first time a query runs on it — and a crash at any step of that first run, the upgrade
 * included, leaves a checkpoint that a restart brings to exactly the state of an uncrashed run.
 */
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadEncodedState } from '../../src/checkpoint/reader.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { createSession, memorySink, memorySource } from '../../src/index.js'
import { faultyFs, type FaultKind, SimulatedCrash } from '../../src/testing.js'
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

/** Runs the golden query on `location` through `fs` with the fixture's rows and one more batch; a crash is expected. */
async function runOnce(location: string, golden: MemoryGolden<unknown>, fs: CheckpointFs): Promise<void> {
  const input = memorySource<Sale>()
  input.addData(golden.batches.flat())
  input.addData(MORE)
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
