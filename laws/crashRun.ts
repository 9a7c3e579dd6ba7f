/**
 * How the crash law runs a query: a schedule of runs on one real checkpoint, each run either drained (trigger
 * availableNow) or killed by an injected fault, with input added between runs. Each fault's position is an index
 * into the file operations of the run it hits, counted by a fault-free dry run of that very run on a copy of the
 * checkpoint, so a crash lands on the lock, the offsets, the state, the sink, the commit, a snapshot or retention
 * with comparable probability.
 */
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type CheckpointFs,
  createSession,
  foreachBatch,
  jsonFilesSink,
  memorySink,
  type MemorySource,
  nodeFs,
  type OutputMode,
  readJsonFilesSink,
  type Sink,
  type StreamingQuery,
  trigger,
} from '../src/index.js'
import { countingFs, type CountingFs, type FaultKind, faultyFs } from '../src/testing.js'
import type { QueryUnderTest } from './query.js'
import { upsertByIdentity } from './rows.js'

/**
 * The sinks the crash law can check: each is idempotent by batchId in its own way.
 * @example
 * const sink: CrashLawSink = 'foreachBatch'
 * await fc.assert(exactlyOnceUnderCrashes({ query, input, sink }))
 */
export type CrashLawSink = 'memory' | 'jsonFiles' | 'foreachBatch'

/**
 * One injected failure. `at` picks the mutating file operation of its run that fails: an index into the operations
 * a fault-free dry run of that run performs, taken modulo their number (so any non-negative integer is a position).
 * @example const fault: InjectedFault = { at: 4, kind: 'crashBefore' } // the 5th mutating file operation (mod the run's count) never happens
 */
export interface InjectedFault {
  readonly at: number
  readonly kind: FaultKind
}

/**
 * A sink whose output outlives the simulated process, as a real external system's would: `sink()` is called once
 * per (re)start, `output()` reads what the external system holds at the end — every row (append) or its result
 * table (update, complete).
 * @example
 * const table = new Map<number, Out[]>() // outlives the simulated process
 * const durable: DurableSink<Out> = {
 *   sink: () => foreachBatch(async (rows, batchId) => { table.set(batchId, rows) }),
 *   output: async () => [...table.values()].flat(),
 * }
 */
export interface DurableSink<R> {
  sink(): Sink<R>
  output(): Promise<R[]>
}

/** Everything one schedule of runs needs. */
export interface CrashSchedule<T, R> {
  readonly query: QueryUnderTest<T, R>
  readonly source: MemorySource<T>
  /** Input added after run i ends, before run i + 1 starts. */
  readonly later: readonly (readonly T[])[]
  readonly sink: CrashLawSink | (() => DurableSink<R>)
  readonly shufflePartitions: number
  readonly fs: (underlying: CheckpointFs) => CheckpointFs
  /** Holds `checkpoint/` and the sink's `out/`. */
  readonly dir: string
  /** Where dry runs copy `dir` to. */
  readonly scratch: string
  /** The operations of the first run when known (an undisturbed schedule over the same input counted them). */
  readonly firstRunOps?: number
}

/** What a schedule produced: the sink's output, one line per run, and the failure that broke the law, if any. */
export interface ScheduleOutcome<R> {
  readonly output: R[]
  readonly trace: string[]
  readonly failure?: string
  /** The mutating file operations of the first run. */
  readonly firstRunOps?: number
}

/**
 * Runs the schedule: run i gets `faults[i]` (if any), then the next input chunk is added, until every fault has
 * been injected, every chunk added and the last run drained its input.
 * @throws Error when the schedule does not end (a bug of the engine that keeps failing without a fault).
 */
export async function runSchedule<T, R>(s: CrashSchedule<T, R>, faults: readonly InjectedFault[]): Promise<ScheduleOutcome<R>> {
  const sink = durableSink<R>(s.sink, s.query.outputMode, s.dir)
  const trace: string[] = []
  let added = 0
  let firstRunOps: number | undefined
  for (let run = 0; ; run++) {
    if (run > faults.length + s.later.length + 1) throw new Error(`the query did not finish after ${run} runs: ${trace.join('; ')}`)
    const fault = faults[run]
    let fs: CountingFs
    let opsOfRun = 0
    if (fault === undefined) {
      fs = countingFs(nodeFs, { root: s.dir })
    } else {
      // The first run of a schedule is the first run of the undisturbed one, which counted it already.
      const dry: { ops: number; error?: string } = run === 0 && s.firstRunOps !== undefined ? { ops: s.firstRunOps } : await dryRun(s, run)
      if (dry.error !== undefined) return { output: await sink.output(), trace, failure: `run ${run} failed without a fault: ${dry.error}` }
      opsOfRun = dry.ops
      fs = faultyFs(nodeFs, { at: fault.at % Math.max(1, opsOfRun), kind: fault.kind }, { root: s.dir })
    }
    const error = await runOnce(s, sink.sink(), join(s.dir, 'checkpoint'), s.fs(fs))
    if (run === 0 && fault === undefined) firstRunOps = fs.opCount
    const hit = fault === undefined ? undefined : fs.ops.findIndex((line) => line.endsWith(` [${fault.kind}]`))
    if (fault !== undefined && hit !== undefined && hit >= 0) {
      const outcome = error === undefined ? 'the query still finished' : 'the query stopped'
      trace.push(`run ${run}: ${fault.kind} at op ${hit} of ${opsOfRun} (${fs.ops[hit]!.replace(/ \[\w+\]$/, '')}); ${outcome}`)
    } else if (error !== undefined) {
      return { output: await sink.output(), trace, failure: `run ${run} failed without a fault: ${error}` }
    } else if (fault !== undefined) {
      trace.push(`run ${run}: ${fault.kind} at op ${fault.at % Math.max(1, opsOfRun)} never reached (${fs.opCount} of ${opsOfRun} ops)`)
    }
    if (added < s.later.length) {
      s.source.addData(s.later[added]!)
      trace.push(`${s.later[added]!.length} rows added`)
      added++
    } else if (error === undefined && run >= faults.length - 1) {
      return { output: await sink.output(), trace, firstRunOps }
    }
  }
}

/** Counts the mutating file operations run `run` would perform, on a copy of the checkpoint and the sink's files. */
async function dryRun<T, R>(s: CrashSchedule<T, R>, run: number): Promise<{ ops: number; error?: string }> {
  const copy = join(s.scratch, `dry-${run}`)
  await rm(copy, { recursive: true, force: true })
  try {
    await cp(s.dir, copy, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
    })
    const fs = countingFs(nodeFs, { root: copy })
    // Memory and foreachBatch sinks do no file operations: a sink that drops the rows counts the same.
    const sink = s.sink === 'jsonFiles' ? (jsonFilesSink(join(copy, 'out')) as Sink<R>) : foreachBatch<R>(() => {})
    const error = await runOnce(s, sink, join(copy, 'checkpoint'), s.fs(fs))
    return { ops: fs.opCount, error }
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
}

/** Starts the query on the checkpoint and drains the source; returns why it failed, or undefined. */
async function runOnce<T, R>(s: CrashSchedule<T, R>, sink: Sink<R>, checkpointLocation: string, fs: CheckpointFs): Promise<string | undefined> {
  // Small snapshot and retention intervals, so that snapshots and purges happen within a short input.
  const session = createSession({ fs, shufflePartitions: s.shufflePartitions, snapshotInterval: 3, minBatchesToRetain: 2, warn: () => {} })
  let q: StreamingQuery | undefined
  try {
    q = await s.query
      .build(session.readStream(s.source.source))
      .writeStream({ outputMode: s.query.outputMode, sink, checkpointLocation, trigger: trigger.availableNow() })
      .start()
    await q.awaitTermination()
    return undefined
  } catch (e) {
    await q?.stop().catch(() => undefined)
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  }
}

function durableSink<R>(kind: CrashLawSink | (() => DurableSink<R>), outputMode: OutputMode, dir: string): DurableSink<R> {
  if (typeof kind === 'function') return kind()
  switch (kind) {
    case 'memory': {
      const sink = memorySink<R>()
      return { sink: () => sink, output: async () => sink.rows() }
    }
    case 'foreachBatch': {
      // The documented idempotent pattern: store each batch under its batchId, so a replay overwrites itself.
      const byBatch = new Map<number, R[]>()
      const batches = () => [...byBatch.entries()].sort(([a], [b]) => a - b).map(([, rows]) => rows)
      const table: Record<OutputMode, () => R[]> = {
        append: () => batches().flat(),
        update: () => upsertByIdentity(batches().flat()),
        complete: () => batches().at(-1) ?? [],
      }
      return {
        sink: () => foreachBatch<R>((rows, batchId) => void byBatch.set(batchId, rows.slice())),
        output: async () => table[outputMode](),
      }
    }
    case 'jsonFiles':
      return { sink: () => jsonFilesSink(join(dir, 'out')) as Sink<R>, output: () => readJsonFilesSink<R>(join(dir, 'out')) }
  }
}
