import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BatchLog } from '../../src/durable/batchLog.js'
import { OffsetLogEntry } from '../../src/checkpoint/logs.js'
import { runCli } from '../../src/cli/cli.js'
import { inspectCheckpoint, type InspectReport } from '../../src/cli/inspect.js'
import { count, createSession, groupBy, memorySink, memorySource, nodeFs, withWatermark } from '../../src/index.js'
import { captureIo, countQuery, users } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-inspect-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function inspectJson(): Promise<InspectReport> {
  const io = captureIo()
  expect(await runCli(['inspect', dir, '--json'], io)).toBe(0)
  return JSON.parse(io.stdout()) as InspectReport
}

/** Four batches on 3 partitions, snapshots every 3 batches: state at batch 3 = snapshot 3 (no later delta). */
async function fourBatches() {
  const query = countQuery(dir)
  const q = await query.start(3)
  for (const batch of [users(4), users(6), users(2), users(9)]) {
    query.add(batch)
    await q.processAllAvailable()
  }
  await q.stop()
  return { query, q }
}

describe('structured-rx inspect --json', () => {
  it('reports identity, batches, last offsets and the fingerprint of the checkpoint', async () => {
    const { q } = await fourBatches()
    const report = await inspectJson()
    expect(report).toMatchObject({
      location: dir,
      id: q.id,
      formatVersion: 2,
      shufflePartitions: 3,
      lock: null,
      batches: { lastCommitted: 3, commitsRetained: 4, offsetsRetained: 4, pending: [] },
      lastOffsets: { batchId: 3, start: 12, end: 21, watermarkMs: 0 },
      stateAtBatch: 3,
      rescaleInProgress: null,
    })
    expect(report.fingerprint).toMatchObject({ outputMode: 'update', shufflePartitions: 3, sources: [{ kind: 'memory', identity: 'clicks' }] })
    expect(Date.parse(report.createdAt)).not.toBeNaN()
  })

  it('counts the state rows of each partition and the bytes of the files a restart reads', async () => {
    await fourBatches()
    const [op] = (await inspectJson()).operators
    expect(op).toMatchObject({ name: 'count', kind: 'aggregate', keyCodec: 'string', stateCodec: 'number', version: 1, stateVersions: [1], rows: 9 })
    expect(op!.partitions.map((p) => p.partition)).toEqual([0, 1, 2])
    // Format v2: one snapshot file of batch 3 holds every partition.
    for (const p of op!.partitions) expect(p).toMatchObject({ files: 1 })
    expect(op).toMatchObject({ files: 1, bytes: (await stat(join(dir, 'state', 'count', '3.snapshot'))).size })
  })

  it('applies the deltas after the last snapshot, removals included', async () => {
    type Event = { user: string; ts: number }
    const input = memorySource<Event>()
    const start = () =>
      createSession({ shufflePartitions: 2, snapshotInterval: 100 })
        .readStream(input.source)
        .pipe(withWatermark((e: Event) => e.ts, 0), groupBy((e: Event) => e.user, t.string, { window: { time: (e: Event) => e.ts, size: 1000 } }), count())
        .writeStream({ outputMode: 'append', checkpointLocation: dir, sink: memorySink() })
        .start()
    const q = await start()
    input.addData([{ user: 'a', ts: 100 }, { user: 'b', ts: 200 }, { user: 'a', ts: 1100 }])
    await q.processAllAvailable()
    // The watermark passes 2000: windows [0,1000) and [1000,2000) are emitted and removed from state.
    input.addData([{ user: 'c', ts: 2500 }])
    await q.processAllAvailable()
    await q.stop()
    const [op] = (await inspectJson()).operators
    expect(op!.window).toBe('1000/1000')
    expect(op!.rows).toBe(1)
    expect(op!.files).toBeGreaterThan(1)
  })

  it('lists a batch whose offsets were logged but never committed as pending, and reports state before it', async () => {
    const { query } = await fourBatches()
    query.add(users(3))
    await new BatchLog(nodeFs, join(dir, 'offsets'), OffsetLogEntry).add(4, {
      batchId: 4, start: 21, end: 24, watermarkMs: 0, batchTimestampMs: 0, shufflePartitions: 3,
    })
    const report = await inspectJson()
    expect(report.batches).toMatchObject({ lastCommitted: 3, pending: [4] })
    expect(report.lastOffsets).toMatchObject({ batchId: 4, start: 21, end: 24 })
    expect(report.stateAtBatch).toBe(3)
  })

  it('shows who holds the lock while a query runs', async () => {
    const query = countQuery(dir)
    const q = await query.start(2)
    try {
      expect((await inspectCheckpoint(dir)).lock).toMatchObject({ pid: process.pid, runId: q.runId, queryName: 'clicks' })
    } finally {
      await q.stop()
    }
  })
})

describe('structured-rx inspect', () => {
  it('prints a readable report with a table of state per partition', async () => {
    const { q } = await fourBatches()
    const io = captureIo()
    expect(await runCli(['inspect', dir], io)).toBe(0)
    const text = io.stdout()
    expect(text).toContain(`Checkpoint ${dir}\n`)
    expect(text).toContain(`  query id            ${q.id}\n`)
    expect(text).toContain('  shuffle partitions  3\n')
    expect(text).toContain('  last committed      3\n')
    expect(text).toContain('  pending             none\n')
    expect(text).toContain('Last offsets (batch 3)\n  start               12\n  end                 21\n')
    expect(text).toContain('State at batch 3\n  count: aggregate, key string, state number, version 1 (files at state version 1)\n')
    expect(text).toContain('  format version      v2\n')
    expect(text).toMatch(/ {4}partition {2}rows {2}files {2}bytes\n( {12}\d {2}[ \d]{4} {6}1.*\n){3} {8}total {5}9 {6}1 +\d+\n/)
    expect(text).toContain('Fingerprint\n  {\n')
    expect(io.stderr()).toBe('')
  })

  it('names a state file that fails its checksum', async () => {
    await fourBatches()
    const path = join(dir, 'state', 'count', '3.snapshot')
    const bytes = await readFile(path)
    bytes[bytes.length - 2] ^= 0x01
    await writeFile(path, bytes)
    const io = captureIo()
    expect(await runCli(['inspect', dir], io)).toBe(1)
    expect(io.stderr()).toMatch(new RegExp(`^structured-rx: checkpoint file ${path} is corrupted: checksum mismatch: .*\\n$`))
  })

  it('fails with a one-line reason for a directory that is not a checkpoint', async () => {
    const io = captureIo()
    expect(await runCli(['inspect', dir], io)).toBe(1)
    expect(io.stderr()).toBe(`structured-rx: ${dir} is not a checkpoint: it has no metadata file\n`)
    expect(await readdir(dir)).toEqual([])
  })

  it('fails with a one-line reason for a location that does not exist, or is a file', async () => {
    const missing = captureIo()
    expect(await runCli(['inspect', join(dir, 'missing')], missing)).toBe(1)
    expect(missing.stderr()).toBe(`structured-rx: ${join(dir, 'missing')} does not exist\n`)
    const file = join(dir, 'metadata.json')
    await writeFile(file, '{}')
    const notDir = captureIo()
    expect(await runCli(['inspect', file], notDir)).toBe(1)
    expect(notDir.stderr()).toBe(`structured-rx: ${file} is not a directory\n`)
  })
})
