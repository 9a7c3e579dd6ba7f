/**
 * The public errors (each with a stable code) and the failures that raise them: concurrent queries, stale locks, full and broken
 * disks, a changed shufflePartitions setting, and checkpoint retention.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, relative } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'
import {
  BadMessageError,
  BadRecordError,
  CheckpointCorruptedError,
  CheckpointVersionError,
  ConnectorUnavailableError,
  ConcurrentQueryError,
  count,
  createSession,
  type CheckpointFs,
  filter,
  foreachBatch,
  groupBy,
  IncompatibleCheckpointError,
  InvalidQueryError,
  PartitioningMismatchError,
  QueryModuleError,
  FencedError,
  CoordinatorStateError,
  CoordinatorUnavailableError,
  CheckpointLockLostError,
  PathNotFoundError,
  SourceFileChangedError,
  jsonFilesSink,
  map,
  memorySink,
  memorySource,
  nodeFs,
  readJsonFilesSink,
  StreamingQueryError,
  StructuredRxError,
  trigger,
} from '../src/index.js'
import { countingFs, faultyFs, SimulatedCrash } from '../src/testing.js'
import { decodeCheckpointFile, readCheckpointFile, writeCheckpointFile } from '../src/durable/format.js'
import { rejectionOf, useTempDir } from './checkpoint/tempDir.js'

type Row = { k: string; v: number }
type Count = { key: string; count: number }

/** 20 rows over 4 keys; with 4 rows per trigger they make batches 0–4. */
const ROWS: Row[] = Array.from({ length: 20 }, (_, i) => ({ k: 'abcd'[(i * 7) % 4]!, v: i }))

function countsOf(rows: readonly Row[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of rows) counts[r.k] = (counts[r.k] ?? 0) + 1
  return counts
}

/** A foreachBatch target that outlives the queries writing to it, idempotent by batchId like a real table. */
function batchTable() {
  const byBatch = new Map<number, Count[]>()
  return {
    sink: () => foreachBatch<Count>((rows, batchId) => void byBatch.set(batchId, rows.slice())),
    /** The update-mode result: the latest row of each key, reading batches in batchId order. */
    counts(): Record<string, number> {
      const out: Record<string, number> = {}
      for (const [, rows] of [...byBatch.entries()].sort(([a], [b]) => a - b)) for (const r of rows) out[r.key] = r.count
      return out
    },
  }
}

/** Runs an update-mode count over `source` to the end of what is there (availableNow) on one session. */
async function runCounts(
  session: api.Session,
  source: api.MemorySource<Row>,
  table: ReturnType<typeof batchTable>,
  checkpointLocation: string,
): Promise<api.StreamingQuery> {
  return session
    .readStream(source.source)
    .pipe(groupBy((r: Row) => r.k, t.string), count())
    .writeStream({ outputMode: 'update', sink: table.sink(), checkpointLocation, trigger: trigger.availableNow() })
    .start()
}

const oddDoubled = (rows: readonly Row[]) => rows.filter((r) => r.v % 2 === 1).map((r) => ({ k: r.k, v: r.v * 2 }))

/** Runs a stateless append query into a JSON files sink under `root/out`, to the end of what is there. */
async function runToFiles(session: api.Session, source: api.MemorySource<Row>, root: string): Promise<api.StreamingQuery> {
  return session
    .readStream(source.source)
    .pipe(filter((r: Row) => r.v % 2 === 1), map((r: Row) => ({ k: r.k, v: r.v * 2 })))
    .writeStream({
      outputMode: 'append',
      sink: jsonFilesSink(join(root, 'out')),
      checkpointLocation: join(root, 'checkpoint'),
      trigger: trigger.availableNow(),
    })
    .start()
}

/** Every file under `dir`, relative, hidden ones included. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort()
}

/**
 * A checkpoint is consistent when every file in it passes its checksum, no temp file is left, every commit has its
 * offsets, and the batches with offsets but no commit are the last one or two after the last commit (the commit log
 * is written in the background while the next batch computes; a restart re-runs both).
 */
async function expectConsistentCheckpoint(dir: string): Promise<void> {
  const files = await filesUnder(dir)
  expect(files.filter((f) => f.split('/').some((part) => part.startsWith('.')))).toEqual([])
  for (const file of files) decodeCheckpointFile(join(dir, file), await readFile(join(dir, file)))
  const ids = (sub: string) =>
    files
      .filter((f) => f.startsWith(`${sub}/`))
      .map((f) => Number(f.slice(sub.length + 1)))
      .sort((a, b) => a - b)
  const offsets = ids('offsets')
  const commits = ids('commits')
  expect(commits.every((c) => offsets.includes(c))).toBe(true)
  const lastCommit = commits.length > 0 ? commits[commits.length - 1]! : -1
  const uncommitted = offsets.filter((o) => !commits.includes(o))
  expect(uncommitted.every((o) => o > lastCommit)).toBe(true)
  expect(uncommitted.length).toBeLessThanOrEqual(2)
}

/** The pid of a node process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  if (child.pid === undefined) throw new Error('could not spawn node')
  return child.pid
}

describe('public errors', () => {
  const cases: [string, () => Error, string][] = [
    ['StreamingQueryError', () => new StreamingQueryError('failed', new Error('cause'), 3, 'count'), 'SRX_QUERY_FAILED'],
    ['BadRecordError', () => new BadRecordError('/data/a.json', 2, '.x', 'expected number'), 'SRX_BAD_RECORD'],
    ['BadMessageError', () => new BadMessageError('stream ORDERS subject orders.1', 7, '.id', 'expected number'), 'SRX_BAD_MESSAGE'],
    ['CheckpointCorruptedError', () => new CheckpointCorruptedError('/ckpt/offsets/0', 'checksum'), 'SRX_CHECKPOINT_CORRUPTED'],
    ['CheckpointVersionError', () => new CheckpointVersionError('/ckpt/metadata', 9, 1), 'SRX_CHECKPOINT_VERSION'],
    ['ConcurrentQueryError', () => new ConcurrentQueryError('/ckpt', 'runId r'), 'SRX_CONCURRENT_QUERY'],
    ['IncompatibleCheckpointError', () => new IncompatibleCheckpointError('/ckpt', ['a reason']), 'SRX_INCOMPATIBLE_CHECKPOINT'],
    ['InvalidQueryError', () => new InvalidQueryError('bad plan'), 'SRX_INVALID_QUERY'],
    ['PathNotFoundError', () => new PathNotFoundError('/data/activty', 'check the path'), 'SRX_PATH_NOT_FOUND'],
    ['SourceFileChangedError', () => new SourceFileChangedError('/data/a.json', 10, 20), 'SRX_SOURCE_FILE_CHANGED'],
    ['CheckpointLockLostError', () => new CheckpointLockLostError('/ckpt', 3, 'runId r'), 'SRX_LOCK_LOST'],
    [
      'ConnectorUnavailableError',
      () => new ConnectorUnavailableError('PostgreSQL sink counts', 10, new Error('ECONNREFUSED')),
      'SRX_CONNECTOR_UNAVAILABLE',
    ],
    ['PartitioningMismatchError', () => new PartitioningMismatchError('not by key'), 'SRX_PARTITIONING_MISMATCH'],
    ['QueryModuleError', () => new QueryModuleError('no export'), 'SRX_QUERY_MODULE'],
    ['FencedError', () => new FencedError('3', 'm1', 2), 'SRX_FENCED'],
    ['CoordinatorStateError', () => new CoordinatorStateError('redis 127.0.0.1:6379', 'lease:3', 'no epoch'), 'SRX_COORDINATOR_STATE'],
    ['CoordinatorUnavailableError', () => new CoordinatorUnavailableError('redis 127.0.0.1:6379', 'renew(task-3)', 'did not answer within 2500 ms'), 'SRX_COORDINATOR_UNAVAILABLE'],
  ]

  it.each(cases)('%s is a StructuredRxError and an Error with its name and the stable code', (name, make, code) => {
    const error = make()
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(StructuredRxError)
    expect(error.name).toBe(name)
    expect((error as StructuredRxError).code).toBe(code)
    expect(error.message.length).toBeGreaterThan(0)
  })

  it('SimulatedCrash (the fault injector of tests and laws) is an Error with the stable code SRX_SIMULATED_CRASH', () => {
    const error = new SimulatedCrash('writeFileAtomic offsets/0')
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe('SRX_SIMULATED_CRASH')
  })

  it('the package exports no error class without a code listed here (SimulatedCrash lives in structured-rx/testing)', () => {
    const exported = Object.entries(api)
      .filter(([, value]) => typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof Error)
      .map(([name]) => name)
      .sort()
    expect(exported).toEqual([...cases.map(([name]) => name), 'StructuredRxError'].sort())
  })

  it('StreamingQueryError keeps its cause, batchId and operator', () => {
    const cause = new Error('boom')
    const error = new StreamingQueryError('query failed', cause, 7, 'count')
    expect(error).toMatchObject({ cause, batchId: 7, operator: 'count' })
  })

  it('CheckpointVersionError names the file and both versions', () => {
    const error = new CheckpointVersionError('/ckpt/commits/4', 9, 1)
    expect(error).toMatchObject({ path: '/ckpt/commits/4', foundVersion: 9, supportedVersion: 1 })
    expect(error.message).toContain('/ckpt/commits/4')
    expect(error.message).toContain('v9')
    expect(error.message).toContain('v1')
  })
})

describe('the checkpoint lock', () => {
  const dir = useTempDir()

  it('rejects a second query on the same checkpoint in this process at start() with ConcurrentQueryError', async () => {
    const source = memorySource<Row>()
    const sink = memorySink<Count>()
    const start = () =>
      createSession({ shufflePartitions: 2 })
        .readStream(source.source)
        .pipe(groupBy((r: Row) => r.k, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: dir() })
        .start()
    const first = await start()
    const error = await rejectionOf(start())
    expect(error).toBeInstanceOf(ConcurrentQueryError)
    expect((error as ConcurrentQueryError).checkpointLocation).toBe(dir())
    expect((error as ConcurrentQueryError).holder).toContain(first.runId)
    source.addData(ROWS)
    await first.processAllAvailable()
    expect(first.isActive).toBe(true)
    await first.stop()
    const again = await start()
    await again.stop()
  })

  it('does not let a stale lock of a dead process block a restart', async () => {
    const source = memorySource<Row>({ maxRowsPerTrigger: 4 })
    const table = batchTable()
    source.addData(ROWS.slice(0, 8))
    await (await runCounts(createSession({ shufflePartitions: 2 }), source, table, dir())).awaitTermination()
    const pid = await deadPid()
    const lock = { pid, hostname: hostname(), runId: 'killed-run', queryName: null, startedAt: '2020-01-01T00:00:00.000Z' }
    await writeCheckpointFile(nodeFs, join(dir(), 'lock'), JSON.stringify(lock))
    source.addData(ROWS.slice(8))
    const restarted = await runCounts(createSession({ shufflePartitions: 2 }), source, table, dir())
    await restarted.awaitTermination()
    expect(table.counts()).toEqual(countsOf(ROWS))
  })
})

/** The operation (by its trace line) at which a disk error is injected, and the query it hits. */
interface DiskErrorCase {
  readonly what: string
  readonly query: 'counts' | 'files'
  readonly op: RegExp
}

const diskErrorCases: DiskErrorCase[] = [
  { what: 'the offset log entry', query: 'counts', op: /^writeFileAtomic checkpoint\/offsets\/2$/ },
  { what: 'a state delta', query: 'counts', op: /^writeFileAtomic checkpoint\/state\/count\/1\.delta$/ },
  { what: 'a state snapshot', query: 'counts', op: /^writeFileAtomic checkpoint\/state\/count\/2\.snapshot$/ },
  { what: 'the commit log entry', query: 'counts', op: /^writeFileAtomic checkpoint\/commits\/3$/ },
  { what: 'a sink part file', query: 'files', op: /^writeFileAtomic out\/part-0000000001\.jsonl$/ },
  { what: 'a sink manifest entry', query: 'files', op: /^writeFileAtomic out\/_manifest\/1$/ },
]

describe('a full or broken disk', () => {
  const dir = useTempDir()

  /** Runs one query to the end with `fs`, 4 rows per batch, snapshots every 2 batches. */
  async function runOnce(
    c: DiskErrorCase,
    root: string,
    fs: CheckpointFs,
    source: api.MemorySource<Row>,
    table: ReturnType<typeof batchTable>,
  ): Promise<api.StreamingQuery> {
    const session = createSession({ fs, shufflePartitions: 2, snapshotInterval: 2, warn: () => {} })
    return c.query === 'counts'
      ? runCounts(session, source, table, join(root, 'checkpoint'))
      : runToFiles(session, source, root)
  }

  /** Index of the operation a clean run of the case does at `c.op`. */
  async function opIndex(c: DiskErrorCase): Promise<number> {
    const root = join(dir(), 'discover')
    const source = memorySource<Row>({ maxRowsPerTrigger: 4 })
    source.addData(ROWS)
    const fs = countingFs(nodeFs, { root })
    await (await runOnce(c, root, fs, source, batchTable())).awaitTermination()
    const index = fs.ops.findIndex((line) => c.op.test(line))
    if (index < 0) throw new Error(`no operation matches ${c.op} in:\n${fs.ops.join('\n')}`)
    return index
  }

  for (const kind of ['ENOSPC', 'EIO'] as const) {
    for (const c of diskErrorCases) {
      it(`${kind} while writing ${c.what} terminates the query with that cause, and a restart resumes exactly`, async () => {
        const at = await opIndex(c)
        const root = join(dir(), 'run')
        const source = memorySource<Row>({ maxRowsPerTrigger: 4 })
        source.addData(ROWS)
        const table = batchTable()
        const broken = await runOnce(c, root, faultyFs(nodeFs, { at, kind }, { root }), source, table)
        const error = await rejectionOf(broken.awaitTermination())
        expect(error).toBeInstanceOf(StreamingQueryError)
        expect((error as StreamingQueryError).cause).toMatchObject({ code: kind })
        expect(broken.exception).toBe(error)
        await expectConsistentCheckpoint(join(root, 'checkpoint'))

        const restarted = await runOnce(c, root, nodeFs, source, table)
        await restarted.awaitTermination()
        if (c.query === 'counts') expect(table.counts()).toEqual(countsOf(ROWS))
        else expect(await readJsonFilesSink(join(root, 'out'))).toEqual(oddDoubled(ROWS))
        await expectConsistentCheckpoint(join(root, 'checkpoint'))
      })
    }
  }
})

describe('shufflePartitions of an existing checkpoint', () => {
  const dir = useTempDir()

  it('wins over a different session setting, with a warning, and the counts stay exact', async () => {
    const source = memorySource<Row>({ maxRowsPerTrigger: 4 })
    const table = batchTable()
    source.addData(ROWS.slice(0, 10))
    await (await runCounts(createSession({ shufflePartitions: 3 }), source, table, dir())).awaitTermination()
    const warnings: string[] = []
    source.addData(ROWS.slice(10))
    const restarted = await runCounts(createSession({ shufflePartitions: 5, warn: (m) => warnings.push(m) }), source, table, dir())
    await restarted.awaitTermination()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/3 shuffle partitions.*setting 5 is ignored/)
    expect(table.counts()).toEqual(countsOf(ROWS))
    // Every state file was written for the checkpoint's 3 partitions.
    const files = await readdir(join(dir(), 'state', 'count'))
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      const body = await readCheckpointFile(nodeFs, join(dir(), 'state', 'count', file))
      expect(JSON.parse(body.slice(0, body.indexOf('\n')))).toMatchObject({ partitions: 3 })
    }
  })
})

describe('checkpoint retention', () => {
  const dir = useTempDir()
  const minBatchesToRetain = 5
  const snapshotInterval = 2
  // Purges run when batch P (a multiple of snapshotInterval) commits and keep batches from P - minBatchesToRetain + 1;
  // up to snapshotInterval - 1 batches follow before the next purge.
  const maxLogEntries = minBatchesToRetain + snapshotInterval - 1
  // State also keeps the snapshot a restore of the oldest kept batch starts from: up to snapshotInterval - 1 older.
  const maxStateFiles = minBatchesToRetain + 2 * (snapshotInterval - 1)

  /** A count query on the test's checkpoint with the retention settings above, run for 30 batches, then stopped. */
  async function thirtyBatches() {
    const source = memorySource<Row>()
    const sink = memorySink<Count>()
    const start = () =>
      createSession({ shufflePartitions: 2, minBatchesToRetain, snapshotInterval })
        .readStream(source.source)
        .pipe(groupBy((r: Row) => r.k, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: dir() })
        .start()
    const added: Row[] = []
    const query = await start()
    for (let batch = 0; batch < 30; batch++) {
      const rows = [{ k: `k${batch % 6}`, v: batch }, { k: 'shared', v: batch }]
      added.push(...rows)
      source.addData(rows)
      await query.processAllAvailable()
    }
    await query.stop()
    expect(query.lastProgress?.batchId).toBe(29)
    return { source, sink, start, added }
  }

  it(`keeps at most ${maxLogEntries} log entries and ${maxStateFiles} state files per operator after 30 batches`, async () => {
    await thirtyBatches()
    expect((await readdir(join(dir(), 'offsets'))).length).toBeLessThanOrEqual(maxLogEntries)
    expect((await readdir(join(dir(), 'commits'))).length).toBeLessThanOrEqual(maxLogEntries)
    const files = await readdir(join(dir(), 'state', 'count'))
    expect(files.length).toBeGreaterThan(0)
    expect(files.length).toBeLessThanOrEqual(maxStateFiles)
  })

  it('purges only when a batch that is a multiple of snapshotInterval commits, keeping the batches from it - minBatchesToRetain + 1', async () => {
    await thirtyBatches()
    const byBatch = (names: string[]) => names.sort((a, b) => Number.parseInt(a) - Number.parseInt(b))
    // Batch 28 purged everything before 28 - 5 + 1 = 24; batch 29 (odd) purged nothing.
    const kept = ['24', '25', '26', '27', '28', '29']
    expect(byBatch(await readdir(join(dir(), 'offsets')))).toEqual(kept)
    expect(byBatch(await readdir(join(dir(), 'commits')))).toEqual(kept)
    // State keeps the snapshot of batch 24, which restoring batch 24 starts from, and the files after it.
    const state = byBatch(await readdir(join(dir(), 'state', 'count')))
    expect(state).toEqual(['24.snapshot', '25.delta', '26.snapshot', '27.delta', '28.snapshot', '29.delta'])
  })

  // minBatchesToRetain: 0 would purge the batch just committed: a restart then finds no offsets and starts over at
  // batch 0, re-reading the input under batch ids an idempotent sink has already committed.
  it.each([0, -1, 1.5])('rejects minBatchesToRetain %s at createSession with a RangeError', (value) => {
    expect(() => createSession({ minBatchesToRetain: value })).toThrow(RangeError)
  })

  it.each([0, -2, 2.5])('rejects snapshotInterval %s at createSession with a RangeError', (value) => {
    expect(() => createSession({ snapshotInterval: value })).toThrow(RangeError)
  })

  it('restarts with exact counts from a checkpoint whose old batches were purged', async () => {
    const { source, sink, start, added } = await thirtyBatches()
    expect(await readdir(join(dir(), 'offsets'))).not.toContain('0')
    const restarted = await start()
    const more = [{ k: 'k0', v: 30 }, { k: 'new', v: 31 }]
    source.addData(more)
    await restarted.processAllAvailable()
    await restarted.stop()
    expect(restarted.lastProgress?.batchId).toBe(30)
    expect(Object.fromEntries(sink.rows().map((r) => [r.key, r.count]))).toEqual(countsOf([...added, ...more]))
  })
})
