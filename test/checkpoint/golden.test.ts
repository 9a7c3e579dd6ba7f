/**
 * Golden checkpoints (test/fixtures/checkpoints/v<format>/, written by test/fixtures/makeGolden.ts): every released
 * checkpoint format is restored by this library. Each test copies a fixture to a temp dir, restarts the query that
 * wrote it, adds data, and checks the exact results; a pending batch re-runs.
 */
import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { decodeCheckpointFile, encodeCheckpointFile } from '../../src/durable/format.js'
import {
  CheckpointVersionError,
  createSession,
  groupBy,
  memorySink,
  memorySource,
  readJsonFilesSink,
  type Stream,
} from '../../src/index.js'
import { useTempDir } from './tempDir.js'
import {
  aggregateUpdate,
  goldenQueryId,
  goldenRoot,
  goldenSession,
  jsonFilesGolden,
  type MemoryGolden,
  mapGroupsV1,
  pendingBatch,
  windowedAppend,
  withJsonFilesGoldenQuery,
} from '../fixtures/golden.js'
import { spendV2, statsV2 } from '../fixtures/upgradeSamples.js'
import { at, feedBatches, type Sale, sale, sorted } from '../fixtures/upgradeSupport.js'

const temp = useTempDir()

/** The format versions that have golden checkpoints: every one this library has written. */
const formatVersions = (await readdir(join(goldenRoot(1), '..'))).filter((d) => /^v\d+$/.test(d)).map((d) => Number(d.slice(1)))

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

describe.each(formatVersions)('golden checkpoints of format v%i', (formatVersion) => {
  const root = goldenRoot(formatVersion)

  /** A copy of a fixture in the test's temp dir. */
  async function copyOf(name: string): Promise<string> {
    const copy = join(temp(), name)
    await cp(join(root, name), copy, { recursive: true })
    return copy
  }

  /** Restarts a memory-source golden query on `location`, re-feeding the rows the fixture read, then `more`. */
  async function restart<R>(
    location: string,
    golden: MemoryGolden<unknown>,
    more: readonly (readonly Sale[])[],
    build: (s: Stream<Sale>) => Stream<R> = golden.build as (s: Stream<Sale>) => Stream<R>,
  ) {
    const input = memorySource<Sale>()
    input.addData(golden.batches.flat())
    const sink = memorySink<R>()
    const query = await build(createSession({ ...goldenSession, warn: () => {} }).readStream(input.source))
      .writeStream({ outputMode: golden.outputMode, sink, checkpointLocation: location })
      .start()
    await feedBatches(query, more, (batch) => input.addData(batch))
    return { rows: sink.rows(), progress: query.recentProgress, id: query.id }
  }

  it('holds only files that start with their format line and pass their checksum, and no lock', async () => {
    const files = await filesUnder(root)
    const checkpointFiles = files.filter((f) => !/\/(input)\/|\/part-\d+\.jsonl$/.test(f))
    expect(checkpointFiles.length).toBeGreaterThan(40)
    for (const file of checkpointFiles) {
      const bytes = await readFile(file)
      expect(bytes.subarray(0, 3).toString(), relative(root, file)).toBe(`v${formatVersion}\n`)
      expect(() => decodeCheckpointFile(file, bytes)).not.toThrow()
    }
    expect(files.filter((f) => f.endsWith('/lock'))).toEqual([])
  })

  it('aggregate-update: restarts with the same query id and continues exactly from its snapshot and deltas', async () => {
    const run = await restart(await copyOf(aggregateUpdate.name), aggregateUpdate, [[sale('a', 10), sale('d', 1)]])
    expect(run.id).toBe(goldenQueryId(aggregateUpdate.queryNumber))
    expect(run.progress.map((p) => p.batchId)).toEqual([4])
    expect(sorted(run.rows)).toEqual([
      { key: 'a', n: 4, total: 13, low: -1 },
      { key: 'd', n: 1, total: 1, low: 1 },
    ])
  })

  it('aggregate-update: after its snapshot of batch 2, the fixture holds a delta of batch 3 with exactly the key it changed', async () => {
    // Batch 3 changed only 'b': partition 1 (where 'b' lives) has 3.delta with 'b', partition 0 has nothing after 2.
    const dir = join(root, aggregateUpdate.name, 'state', 'agg')
    const afterSnapshot: Record<string, string[]> = {}
    /** v1: a directory per partition; v2: one file per batch whose `{"partition":i}` lines start each section. */
    const record = (where: string, lines: readonly string[]) => {
      let partition = where
      for (const line of lines) {
        const e = JSON.parse(line) as { partition?: number; u?: { k: unknown }; r?: { k: unknown } }
        if (e.partition !== undefined) partition = String(e.partition)
        else (afterSnapshot[partition] ??= []).push(`${e.u ? 'upsert' : 'remove'} ${String((e.u ?? e.r)!.k)}`)
      }
    }
    const deltasAfter2 = (names: readonly string[]) => names.filter((n) => Number(/^(\d+)\.delta$/.exec(n)?.[1] ?? -1) > 2)
    if (formatVersion === 1) {
      for (const partition of await readdir(dir)) {
        for (const name of deltasAfter2(await readdir(join(dir, partition)))) {
          record(`${partition}/${name}`, decodeCheckpointFile(name, await readFile(join(dir, partition, name))).body.split('\n').slice(1))
        }
      }
    } else {
      for (const name of deltasAfter2(await readdir(dir))) {
        const lines = decodeCheckpointFile(name, await readFile(join(dir, name))).body.split('\n').slice(1)
        record(name, lines)
        for (const key of Object.keys(afterSnapshot)) if (!key.includes('/')) afterSnapshot[`${key}/${name}`] = afterSnapshot[key]!
        for (const key of Object.keys(afterSnapshot)) if (!key.includes('/')) delete afterSnapshot[key]
      }
    }
    expect(afterSnapshot).toEqual({ '1/3.delta': ['upsert b'] })
  })

  it('windowed-append: restores the watermark and open windows; late rows are dropped, windows close exactly once', async () => {
    // Watermark 16 s: a row at 3 s is late, one at 14 s joins the open window [10, 20); 40 s closes [10, 30).
    const run = await restart(await copyOf(windowedAppend.name), windowedAppend, [[sale('a', 1, 3), sale('a', 1, 14), sale('b', 1, 40)]])
    expect(run.progress[0]?.stateOperators[0]?.numRowsDroppedByWatermark).toBe(1)
    expect(sorted(run.rows)).toEqual([
      { key: 'a', window: { start: at(10), end: at(20) }, count: 2 },
      { key: 'b', window: { start: at(20), end: at(30) }, count: 1 },
    ])
  })

  it('mapGroupsWithState: restarts at state version 1 and continues exactly', async () => {
    const run = await restart(await copyOf(mapGroupsV1.name), mapGroupsV1, [[sale('a', 1)]])
    expect(run.rows).toEqual([{ key: 'a', spend: 13 }])
  })

  it('mapGroupsWithState: restarts at state version 2, migrating the golden version-1 state', async () => {
    const run = await restart(await copyOf(mapGroupsV1.name), mapGroupsV1, [[sale('a', 1), sale('b', 1)]], spendV2)
    expect(sorted(run.rows)).toEqual([{ key: 'a', spend: 12 + 1 }, { key: 'b', spend: 2 }])
  })

  it('pending-batch: re-runs the uncommitted batch with its logged offsets, then continues', async () => {
    const run = await restart(await copyOf(pendingBatch.name), pendingBatch, [[sale('a', 1)]])
    expect(run.progress.map((p) => [p.batchId, p.numInputRows])).toEqual([[2, 1], [3, 1]])
    expect(sorted(run.rows)).toEqual([{ key: 'a', stats: 5 }, { key: 'b', stats: 6 }])
  })

  it('pending-batch: re-runs the uncommitted batch on an upgraded query that migrates its state', async () => {
    const upgraded = (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user, t.string), statsV2())
    const run = await restart(await copyOf(pendingBatch.name), pendingBatch, [[sale('a', 1)]], upgraded)
    expect(run.progress.map((p) => p.batchId)).toEqual([2, 3])
    expect(sorted(run.rows)).toEqual([{ key: 'a', stats: 5 }, { key: 'b', stats: 6 }])
  })

  // The query runs from the fixture directory: process.chdir() exists in the main thread and forked workers only (the
  // mutation-testing runner uses worker threads).
  it.skipIf(!isMainThread)('jsonFiles: restarts from the fixture directory, reads only new files and appends exactly to the sink', async () => {
    const dir = await copyOf(jsonFilesGolden.name)
    const golden = jsonFilesGolden
    await writeFile(join(dir, golden.input, '004.json'), [{ id: 'p1', user: 'a', amount: 1 }, { id: 'p5', user: 'd', amount: 4 }].map((r) => JSON.stringify(r)).join('\n'))
    const query = await withJsonFilesGoldenQuery(dir, async (q) => {
      await feedBatches(q, [], () => {})
      return q
    })
    expect(query.recentProgress.map((p) => [p.batchId, p.numInputRows])).toEqual([[3, 2]])
    expect(await readJsonFilesSink(join(dir, golden.output))).toEqual([
      { id: 'p1', user: 'a', cents: 100 },
      { id: 'p2', user: 'b', cents: 200 },
      { id: 'p4', user: 'c', cents: 300 },
      { id: 'p5', user: 'd', cents: 400 },
    ])
  })

  it('a checkpoint from a newer format is refused with CheckpointVersionError, not read as corrupted', async () => {
    const location = await copyOf(aggregateUpdate.name)
    const metadata = decodeCheckpointFile('metadata', await readFile(join(location, 'metadata')))
    await writeFile(join(location, 'metadata'), encodeCheckpointFile(metadata.body, 99))
    const error = await restart(location, aggregateUpdate, []).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CheckpointVersionError)
    expect((error as Error).message).toMatch(/metadata/)
  })
})
