/**
 * Model-based test of the checkpoint protocol (fast-check `fc.commands`): a real update-mode count per key runs on a
 * real checkpoint directory while random commands add data, run batches, crash the process at an I/O step of a kind
 * (the next run gets a fault-injecting file system and work until it dies), restart it, or stop and restart it. The
 * model is what was added; after every run of batches the result table must equal the count per key of everything
 * processed, and after a crash the count of some prefix of the input (nothing lost before it, nothing twice).
 * A failure prints the seed and the shrunk command list, e.g. `[AddData(a,b),Crash(at op 3, tornWrite),Restart]`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  foreachBatch,
  groupBy,
  type MemorySource,
  memorySource,
  nodeFs,
  type StreamingQuery,
} from '../../src/index.js'
import { type FaultKind, type FaultyFs, faultyFs } from '../../src/testing.js'

type Row = { k: string }
type Count = { key: string; count: number }

/** What the model knows: every row added, and whether a healthy query process is running. */
interface Model {
  readonly added: Row[]
  running: boolean
}

/** The system under test: a checkpoint directory, a replayable source, the sink's external table and the process. */
class Real {
  /** The sink's table outlives processes, as an external system would: batches stored by batchId. */
  readonly byBatch = new Map<number, Count[]>()
  readonly source: MemorySource<Row> = memorySource<Row>({ maxRowsPerTrigger: 3 })
  query: StreamingQuery | undefined

  constructor(readonly checkpoint: string) {}

  /** Starts a query process on `fs` (a fault injector, or healthy nodeFs). */
  async start(fs: FaultyFs | undefined): Promise<void> {
    const session = createSession({ fs: fs ?? nodeFs, shufflePartitions: 2, snapshotInterval: 2, minBatchesToRetain: 3, warn: () => {} })
    this.query = await session
      .readStream(this.source.source)
      .pipe(groupBy((r: Row) => r.k, t.string), count())
      .writeStream({
        outputMode: 'update',
        sink: foreachBatch<Count>((rows, batchId) => void this.byBatch.set(batchId, rows.slice())),
        checkpointLocation: this.checkpoint,
      })
      .start()
  }

  /** Ends the running process, if any: a clean stop, or nothing for a process that already died. */
  async stop(): Promise<void> {
    await this.query?.stop()
    this.query = undefined
  }

  /** Update-mode result table: the latest row per key over the batches in batchId order. */
  table(): Record<string, number> {
    const table: Record<string, number> = {}
    for (const [, rows] of [...this.byBatch.entries()].sort(([a], [b]) => a - b)) for (const r of rows) table[r.key] = r.count
    return table
  }
}

function countsOf(rows: readonly Row[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of rows) counts[r.k] = (counts[r.k] ?? 0) + 1
  return counts
}

/** After a crash, the table must be the result of some prefix of the input: no row lost before it, none twice. */
function expectSomePrefix(table: Record<string, number>, added: readonly Row[]): void {
  const wanted = JSON.stringify(Object.entries(table).sort())
  for (let n = added.length; n >= 0; n--) {
    if (JSON.stringify(Object.entries(countsOf(added.slice(0, n))).sort()) === wanted) return
  }
  throw new Error(`table ${JSON.stringify(table)} is not the count of any prefix of ${JSON.stringify(added.map((r) => r.k))}`)
}

/** Runs batches of a doomed process until everything available is processed; false once it died. */
async function processAll(real: Real): Promise<boolean> {
  if (real.query === undefined) return false
  try {
    await real.query.processAllAvailable()
    return true
  } catch {
    return false
  }
}

/** Stops any process, then starts a healthy one and processes everything: the table must then be exact. */
async function restartHealthy(m: Model, r: Real): Promise<void> {
  await r.stop()
  await r.start(undefined)
  m.running = true
  await r.query!.processAllAvailable()
  expect(r.table()).toEqual(countsOf(m.added))
}

class AddData implements fc.AsyncCommand<Model, Real> {
  constructor(readonly rows: Row[]) {}
  check = () => true
  async run(m: Model, r: Real): Promise<void> {
    r.source.addData(this.rows)
    m.added.push(...this.rows)
  }
  toString = () => `AddData(${this.rows.map((row) => row.k).join(',')})`
}

class RunBatch implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.running
  async run(m: Model, r: Real): Promise<void> {
    await r.query!.processAllAvailable()
    expect(r.table()).toEqual(countsOf(m.added))
  }
  toString = () => 'RunBatch'
}

/** Rows the Crash command adds, one per round, to give the doomed process work until it reaches its fault. */
const FILLER: Row = { k: 'z' }
const MAX_CRASH_ROUNDS = 40

class Crash implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly at: number,
    readonly kind: FaultKind,
  ) {}
  check = () => true
  async run(m: Model, r: Real): Promise<void> {
    await r.stop()
    m.running = false
    const fs = faultyFs(nodeFs, { at: this.at, kind: this.kind }, { root: r.checkpoint })
    try {
      await r.start(fs)
      for (let round = 0; (await processAll(r)) && round < MAX_CRASH_ROUNDS; round++) {
        r.source.addData([FILLER])
        m.added.push(FILLER)
      }
    } catch {
      // The fault hit while starting (the lock, the metadata): the process died before running a batch.
    }
    expect(fs.ops.filter((op) => op.endsWith(`[${this.kind}]`))).toHaveLength(1)
    await r.stop()
    expectSomePrefix(r.table(), m.added)
  }
  toString = () => `Crash(at op ${this.at}, ${this.kind})`
}

class Restart implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => !m.running
  run = (m: Model, r: Real) => restartHealthy(m, r)
  toString = () => 'Restart'
}

class StopAndRestart implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.running
  run = (m: Model, r: Real) => restartHealthy(m, r)
  toString = () => 'StopAndRestart'
}

const rowArb = fc.constantFrom('a', 'b', 'c', 'd', 'e').map((k) => ({ k }))
const commands = fc.commands(
  [
    fc.array(rowArb, { minLength: 1, maxLength: 7 }).map((rows) => new AddData(rows)),
    fc.constant(new RunBatch()),
    fc
      .tuple(fc.nat({ max: 24 }), fc.constantFrom<FaultKind>('crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO'))
      .map(([at, kind]) => new Crash(at, kind)),
    fc.constant(new Restart()),
    fc.constant(new StopAndRestart()),
  ],
  { maxCommands: 14 },
)

describe('the checkpoint protocol against a model', () => {
  it('keeps the result table equal to the count of everything processed through crashes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const dir = await mkdtemp(join(tmpdir(), 'srx-model-'))
        const real = new Real(join(dir, 'checkpoint'))
        try {
          const model: Model = { added: [], running: true }
          await fc.asyncModelRun(async () => {
            await real.start(undefined)
            return { model, real }
          }, cmds)
          // Whatever happened, a healthy restart ends with the exact counts of everything added.
          await restartHealthy(model, real)
        } finally {
          await real.stop().catch(() => undefined)
          await rm(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 50 },
    )
  }, 120_000)
})
