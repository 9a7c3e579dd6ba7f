import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  createSession,
  type CheckpointFs,
  foreachBatch,
  jsonFilesSink,
  memorySink,
  memorySource,
  nodeFs,
  readJsonFilesSink,
  type Sink,
  type StreamingQuery,
  trigger,
} from '../src/index.js'
import { countingFs, faultyFs, type FaultKind } from '../src/testing.js'
import { canonical } from './rows.js'
import { assertLaw, type QueryUnderTest } from './query.js'

/** The sinks the crash law can check: each is idempotent by batchId in its own way. */
export type CrashLawSink = 'memory' | 'jsonFiles' | 'foreachBatch'

/** One injected failure: at a fraction (0–1) of the mutating file-system operations of a run, of a kind. */
export interface InjectedFault {
  readonly at: number
  readonly kind: FaultKind
}

/** The verdict of the crash law on one input. */
export interface CrashLawResult<R> {
  readonly holds: boolean
  readonly expected: readonly R[]
  readonly actual: readonly R[]
  /** What happened, run by run: which operation failed and how. */
  readonly trace: readonly string[]
  readonly message?: string
}

/**
 * A sink whose output outlives the simulated process, as a real external system's would: `sink()` is called once
 * per (re)start, `output()` reads what the external system holds at the end.
 */
export interface DurableSink<R> {
  sink(): Sink<R>
  output(): Promise<R[]>
}

function durableSink<R>(kind: CrashLawSink | DurableSink<R>, dir: string): DurableSink<R> {
  if (typeof kind === 'object') return kind
  switch (kind) {
    case 'memory': {
      const sink = memorySink<R>()
      return { sink: () => sink, output: async () => sink.rows() }
    }
    case 'foreachBatch': {
      // The documented idempotent pattern: store each batch under its batchId, so a replay overwrites itself.
      const byBatch = new Map<number, R[]>()
      return {
        sink: () => foreachBatch<R>((rows, batchId) => void byBatch.set(batchId, rows.slice())),
        output: async () => [...byBatch.entries()].sort(([a], [b]) => a - b).flatMap(([, rows]) => rows),
      }
    }
    case 'jsonFiles':
      return { sink: () => jsonFilesSink(join(dir, 'out')) as Sink<R>, output: () => readJsonFilesSink<R>(join(dir, 'out')) }
  }
}

/**
 * Runs the query over `input` in micro-batches of `batchSize` rows (trigger.availableNow on a memory source), with a
 * real checkpoint on the real file system, once without faults and once with each of `faults` injected into a
 * successive run (a crash kills the "process": its session and file system; ENOSPC/EIO fail the query), restarting
 * until the input is drained. Holds when the sink output equals the uninterrupted run's: nothing lost, nothing twice.
 * @example await exactlyOnceUnderCrashesHolds(query, rows, { batchSize: 3, faults: [{ at: 0.4, kind: 'tornWrite' }] })
 */
export async function exactlyOnceUnderCrashesHolds<T, R>(
  query: QueryUnderTest<T, R>,
  input: readonly T[],
  options: {
    batchSize: number
    faults: readonly InjectedFault[]
    sink?: CrashLawSink | (() => DurableSink<R>)
    shufflePartitions?: number
  },
): Promise<CrashLawResult<R>> {
  const root = await mkdtemp(join(tmpdir(), 'srx-crash-law-'))
  try {
    const sinkKind = options.sink ?? 'memory'
    const clean = await runToCompletion(query, input, options, join(root, 'clean'), sinkKind, [])
    const crashed = await runToCompletion(query, input, options, join(root, 'crashed'), sinkKind, options.faults, clean.ops)
    const holds = canonical(crashed.output) === canonical(clean.output)
    return {
      holds,
      expected: clean.output,
      actual: crashed.output,
      trace: crashed.trace,
      message: holds
        ? undefined
        : `exactly-once violated after ${crashed.trace.join('; ')}\nexpected ${JSON.stringify(clean.output)}\n` +
          `actual   ${JSON.stringify(crashed.output)}`,
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

async function runToCompletion<T, R>(
  query: QueryUnderTest<T, R>,
  input: readonly T[],
  options: { batchSize: number; shufflePartitions?: number },
  dir: string,
  sinkKind: CrashLawSink | (() => DurableSink<R>),
  faults: readonly InjectedFault[],
  opsOfCleanRun = 0,
): Promise<{ output: R[]; ops: number; trace: string[] }> {
  const source = memorySource<T>({ maxRowsPerTrigger: options.batchSize })
  source.addData(input)
  const sink = durableSink<R>(typeof sinkKind === 'function' ? sinkKind() : sinkKind, dir)
  const trace: string[] = []
  let ops = 0
  for (let run = 0; ; run++) {
    if (run > faults.length + 3) throw new Error(`query did not finish after ${run} restarts: ${trace.join('; ')}`)
    const fault = faults[run]
    const fs: CheckpointFs & { opCount: number; ops: readonly string[] } =
      fault === undefined
        ? countingFs(nodeFs, { root: dir })
        : faultyFs(nodeFs, { at: Math.floor(fault.at * Math.max(1, opsOfCleanRun)), kind: fault.kind }, { root: dir })
    const session = createSession({ fs, shufflePartitions: options.shufflePartitions ?? 4, snapshotInterval: 3, warn: () => {} })
    let q: StreamingQuery | undefined
    try {
      q = await query
        .build(session.readStream(source.source))
        .writeStream({
          outputMode: query.outputMode,
          sink: sink.sink(),
          checkpointLocation: join(dir, 'checkpoint'),
          trigger: trigger.availableNow(),
        })
        .start()
      await q.awaitTermination()
      ops = fs.opCount
      if (fault !== undefined) trace.push(`run ${run}: fault ${fault.kind} never reached (${fs.opCount} ops)`)
      return { output: await sink.output(), ops, trace }
    } catch (e) {
      if (fault === undefined) throw e
      const failedOp = fs.ops[fs.ops.length - 1] ?? '(none)'
      trace.push(`run ${run}: ${fault.kind} at op ${fs.opCount - 1} (${failedOp})`)
      await q?.stop().catch(() => undefined)
    }
  }
}

/**
 * The law as a fast-check property: for any input, any batch size and one to three faults of any kind at any point
 * among the checkpoint and sink operations, restarting until done yields exactly the uninterrupted run's output.
 * @throws (when run) an AssertionError with the expected and actual sink output and the fault trace.
 * @example await fc.assert(exactlyOnceUnderCrashes({ query, input: fc.array(rowArb) }), { numRuns: 50 })
 */
export function exactlyOnceUnderCrashes<T, R>(args: {
  readonly query: QueryUnderTest<T, R>
  readonly input: fc.Arbitrary<T[]>
  readonly sink?: CrashLawSink | (() => DurableSink<R>)
  readonly maxFaults?: number
}): fc.IAsyncProperty<[T[], number, InjectedFault[]]> {
  const fault = fc.record({
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    kind: fc.constantFrom<FaultKind>('crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO'),
  })
  return fc.asyncProperty(
    args.input,
    fc.integer({ min: 1, max: 5 }),
    fc.array(fault, { minLength: 1, maxLength: args.maxFaults ?? 3 }),
    async (input, batchSize, faults) => {
      assertLaw('exactlyOnceUnderCrashes', await exactlyOnceUnderCrashesHolds(args.query, input, { batchSize, faults, sink: args.sink }))
    },
  )
}
