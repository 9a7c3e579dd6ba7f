/**
 * The crash law: a query killed at any file operation, any number of times, with new input arriving before each
 * restart, ends with the sink output of an uninterrupted run. Plain predicate first (`exactlyOnceUnderCrashesHolds`),
 * then the fast-check property.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { type CheckpointFs, memorySource } from '../src/index.js'
import type { FaultKind } from '../src/testing.js'
import { comparisonFor, resultDifference } from './compare.js'
import { type CrashLawSink, type DurableSink, type InjectedFault, runSchedule } from './crashRun.js'
import { assertLaw, cutIntoBatches, type QueryUnderTest } from './query.js'
import { canonical, sortByIdentity } from './rows.js'
import { splitSeeds, splitsOf } from './splits.js'

export type { CrashLawSink, DurableSink, InjectedFault } from './crashRun.js'

/**
 * The verdict of the crash law on one input.
 * @example
 * const result = await exactlyOnceUnderCrashesHolds(query, rows, { batchSize: 2, faults: [{ at: 5, kind: 'tornWrite' }] })
 * if (!result.holds) console.log(result.message, result.trace.join('\n'))
 */
export interface CrashLawResult<R> {
  readonly holds: boolean
  readonly expected: readonly R[]
  readonly actual: readonly R[]
  /** What happened, run by run: which operation failed and how, and the input added before each restart. */
  readonly trace: readonly string[]
  readonly message?: string
}

/**
 * Options of `exactlyOnceUnderCrashesHolds`.
 * @example
 * const options: CrashLawOptions<Row, Out> = { batchSize: 2, faults: [{ at: 3, kind: 'crashAfter' }, { at: 0, kind: 'ENOSPC' }], sink: 'jsonFiles' }
 * await exactlyOnceUnderCrashesHolds(query, rows, options)
 */
export interface CrashLawOptions<T, R> {
  /** Rows per micro-batch (the source's maxRowsPerTrigger). */
  readonly batchSize: number
  /** The fault of each run in turn: run i gets `faults[i]`; runs after the last fault run undisturbed. */
  readonly faults: readonly InjectedFault[]
  /** Input arriving later: chunk i is added after run i ends (by its fault or by draining the input), before run i + 1. */
  readonly later?: readonly (readonly T[])[]
  /** Where the output goes (default `'memory'`); a function gives your own sink and reads what it holds. */
  readonly sink?: CrashLawSink | (() => DurableSink<R>)
  /** Default 4. */
  readonly shufflePartitions?: number
  /**
   * The checkpoint file system, built on the law's counting or fault-injecting one (default: that one itself).
   * Wrap it to check a storage layer of your own, or to prove the law catches broken storage.
   */
  readonly fs?: (underlying: CheckpointFs) => CheckpointFs
}

/**
 * The crash law on one input: runs the query over `input` (then each chunk of `later`) in micro-batches of
 * `batchSize` rows (trigger.availableNow on a memory source) with a real checkpoint on the real file system, once
 * without faults and once with `faults` injected into successive runs — a crash before or after an operation, a torn
 * write, ENOSPC, EIO — adding the next chunk of `later` after each run ends and restarting until everything is
 * drained. Holds when the two sink outputs are equal: as a multiset in append mode, as a table by `key` and `window`
 * in update and complete mode. Input arriving between restarts changes how the rest is cut into micro-batches, so the
 * query's result must not depend on the cut (as `incrementalMatchesReference` demands).
 * @example
 * await exactlyOnceUnderCrashesHolds(query, rows, { batchSize: 3, faults: [{ at: 7, kind: 'tornWrite' }], later: [moreRows] })
 * @throws Error when the query keeps failing without any fault after the last one (the schedule cannot end).
 */
export async function exactlyOnceUnderCrashesHolds<T, R>(
  query: QueryUnderTest<T, R>,
  input: readonly T[],
  options: CrashLawOptions<T, R>,
): Promise<CrashLawResult<R>> {
  const root = await mkdtemp(join(tmpdir(), 'srx-crash-law-'))
  const schedule = (name: string) => ({
    query,
    source: memorySource<T>({ maxRowsPerTrigger: options.batchSize }),
    later: options.later ?? [],
    sink: options.sink ?? 'memory',
    shufflePartitions: options.shufflePartitions ?? 4,
    fs: options.fs ?? ((fs: CheckpointFs) => fs),
    dir: join(root, name),
    scratch: root,
  })
  try {
    const cleanRun = schedule('clean')
    cleanRun.source.addData(input)
    const clean = await runSchedule(cleanRun, [])
    const crashedRun = { ...schedule('crashed'), firstRunOps: clean.firstRunOps }
    crashedRun.source.addData(input)
    const crashed = await runSchedule(crashedRun, options.faults)
    const expected = sortByIdentity(clean.output)
    const actual = sortByIdentity(crashed.output)
    const difference =
      (clean.failure !== undefined ? `the uninterrupted run failed: ${clean.failure}` : undefined) ??
      crashed.failure ??
      resultDifference(expected, actual, comparisonFor(query.outputMode))
    if (difference === undefined) return { holds: true, expected, actual, trace: crashed.trace }
    const message = [
      `exactlyOnceUnderCrashes does not hold (output mode '${query.outputMode}', batches of ${options.batchSize} rows): ${difference}`,
      `  runs:     ${crashed.trace.join('; ')}`,
      `  input:    ${canonical(input)}${(options.later ?? []).map((rows) => ` then ${canonical(rows)}`).join('')}`,
      `  expected: ${canonical(expected)}`,
      `  actual:   ${canonical(actual)}`,
    ].join('\n')
    return { holds: false, expected, actual, trace: crashed.trace, message }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

/**
 * Options of the property `exactlyOnceUnderCrashes`.
 * @example await fc.assert(exactlyOnceUnderCrashes({ query, input: fc.array(fc.record({ k: fc.constantFrom('a', 'b') })), maxFaults: 2, maxBatchSize: 3 }), { numRuns: 50 })
 */
export interface ExactlyOnceUnderCrashesOptions<T, R> {
  readonly query: QueryUnderTest<T, R>
  /** Inputs to try; each is split into what is there at the start and what arrives between restarts. */
  readonly input: fc.Arbitrary<T[]>
  readonly sink?: CrashLawSink | (() => DurableSink<R>)
  /** Most faults per case (default 3). */
  readonly maxFaults?: number
  /** Most micro-batch size (default 5); sizes from 1 up. */
  readonly maxBatchSize?: number
  /** See `CrashLawOptions.fs`. */
  readonly fs?: (underlying: CheckpointFs) => CheckpointFs
}

/**
 * The crash law as a fast-check property: for any input, any batch size, one to `maxFaults` faults of any kind at any
 * file operation of the runs they hit (lock, offsets, state deltas and snapshots, sink files, commits, retention), and
 * input arriving between restarts, restarting until done yields the uninterrupted run's output: nothing lost, nothing
 * twice. Pass `numRuns` to `fc.assert`, which prints the seed and the shrunk counterexample on failure.
 * @example await fc.assert(exactlyOnceUnderCrashes({ query, input: fc.array(rowArb) }), { numRuns: 50 })
 * @throws (when run) an AssertionError naming each fault's operation, with the expected and actual output.
 */
export function exactlyOnceUnderCrashes<T, R>(
  args: ExactlyOnceUnderCrashesOptions<T, R>,
): fc.IAsyncProperty<[T[], number, InjectedFault[], number[]]> {
  const fault = fc.record({
    at: fc.nat({ max: 0xffff }),
    kind: fc.constantFrom<FaultKind>('crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO'),
  })
  const maxFaults = args.maxFaults ?? 3
  return fc.asyncProperty(
    args.input,
    fc.integer({ min: 1, max: args.maxBatchSize ?? 5 }),
    fc.array(fault, { minLength: 1, maxLength: maxFaults }),
    splitSeeds(maxFaults + 1),
    async (input, batchSize, faults, arrivalSeeds) => {
      const [first = [], ...later] = cutIntoBatches(input, splitsOf(arrivalSeeds, input.length))
      const result = await exactlyOnceUnderCrashesHolds(args.query, first, { batchSize, faults, later, sink: args.sink, fs: args.fs })
      assertLaw('exactlyOnceUnderCrashes', result)
    },
  )
}
