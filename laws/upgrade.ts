/**
 * The law of safe upgrades: a changed query continues on an old checkpoint with the result it should have. Plain
 * predicate first (`checkpointUpgradeCompatibleHolds`), then the fast-check property users run in their suites.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  type Codec,
  createSession,
  foreachBatch,
  memorySink,
  memorySource,
  type MemorySink,
  type MemorySource,
  type SessionOptions,
  type StreamingQuery,
} from '../src/index.js'
import { assertLaw, cutIntoBatches, type QueryUnderTest } from './query.js'
import { comparisonFor, resultDifference } from './compare.js'
import { canonical, sortByIdentity, upsertByIdentity } from './rows.js'
import { splitSeeds, splitsOf } from './splits.js'
import { errorText } from './codecs.js'

/* ------------------------------------------------------------------------------------------------------------------
 * checkpointUpgradeCompatible
 * ---------------------------------------------------------------------------------------------------------------- */

/**
 * How an upgrade run cut the input: the micro-batches, and how many of them `before` ran.
 * @example
 * const { cut } = await checkpointUpgradeCompatibleHolds(before, after, rows, { splits: [1, 2], cut: 2 })
 * cut.beforeRows // the rows `before` read; cut.afterRows: those `after` read
 */
export interface UpgradeCut<T> {
  readonly batches: readonly (readonly T[])[]
  /** `batches.slice(0, cut)` ran on `before`, `batches.slice(cut)` on `after`. */
  readonly cut: number
  /** The rows `before` read, and the rows `after` read. */
  readonly beforeRows: readonly T[]
  readonly afterRows: readonly T[]
}

/**
 * The table `after`'s memory sink must hold after the upgrade run, when the default (a fresh run of `after`) is not
 * what the upgrade means, e.g. when a migration fills a new field with a placeholder.
 * @example (input, { beforeRows, afterRows }) => expectedTableOf(afterRows)
 */
export type ExpectedAfterUpgrade<T, R> = (input: readonly T[], cut: UpgradeCut<T>) => readonly R[]

/**
 * Where and how the upgrade law runs its queries.
 * @example const env: UpgradeLawEnvironment = { directory: '/dev/shm', session: { shufflePartitions: 2, snapshotInterval: 1 } }
 */
export interface UpgradeLawEnvironment {
  /** Parent directory of the temporary checkpoints (default `os.tmpdir()`); a tmpfs such as /dev/shm is fastest. */
  readonly directory?: string
  /**
   * Session settings of every run (default `{ shufflePartitions: 2, snapshotInterval: 2 }`, so a few batches
   * already write snapshots; warnings are dropped unless `warn` is given).
   */
  readonly session?: SessionOptions
}

/**
 * The verdict of the upgrade law on one input, cut and split.
 * @example
 * const result = await checkpointUpgradeCompatibleHolds(before, after, rows, { splits: [2], cut: 1 })
 * if (!result.holds) console.log(result.message, result.cut.batches)
 */
export interface UpgradeLawResult<T, R> {
  readonly holds: boolean
  readonly expected: readonly R[]
  readonly actual: readonly R[]
  readonly cut: UpgradeCut<T>
  readonly message?: string
}

/**
 * The law `checkpointUpgradeCompatible` on one input: `input` is cut into micro-batches at `splits`; `before` runs the
 * first `cut` of them on a fresh checkpoint (each batch added to a memory source, then processed completely) and
 * stops; `after` starts on the same checkpoint and the same source, and runs the remaining batches into a new memory
 * sink. The law holds when that sink's table equals the expected one:
 * - by default, the table a fresh run of `after` (no checkpoint, same micro-batches from the first) writes in the
 *   batches after the cut — for append the rows of those batches in order, for update those rows upserted by
 *   `(key, window)`, for complete the rows of the last of them (tables compare sorted by identity). This is the
 *   right expectation exactly when migrating `before`'s state gives `after`'s own state
 *   (`migrate(fold_before(prefix)) = fold_after(prefix)`): always so for a plain restart, a change that leaves state
 *   alone (a stateless change, another output mode) and a migration that only reshapes state;
 * - otherwise `expected(input, cut)`, the table `after`'s sink must hold.
 * A `start()` that rejects (e.g. IncompatibleCheckpointError) or a query that fails makes the law fail with its error.
 * @example
 * const counts = { build: (s) => s.pipe(groupBy((r) => r.k, t.string), count()), outputMode: 'update' }
 * const r = await checkpointUpgradeCompatibleHolds(counts, { ...counts, outputMode: 'complete' },
 *   [{ k: 'a' }, { k: 'b' }, { k: 'a' }], { splits: [1, 2], cut: 2 })
 * r.holds // true: after's sink holds [{ key: 'a', count: 2 }, { key: 'b', count: 1 }]
 * @throws what the fresh run of `after` fails with, e.g. InvalidQueryError: then `after` itself is broken.
 */
export async function checkpointUpgradeCompatibleHolds<T, R0, R>(
  before: QueryUnderTest<T, R0>,
  after: QueryUnderTest<T, R>,
  input: readonly T[],
  options: { readonly splits: readonly number[]; readonly cut: number; readonly expected?: ExpectedAfterUpgrade<T, R> } & UpgradeLawEnvironment,
): Promise<UpgradeLawResult<T, R>> {
  const batches = cutIntoBatches(input, options.splits)
  const cutAt = Math.min(Math.max(Math.trunc(options.cut), 0), batches.length)
  const cut: UpgradeCut<T> = {
    batches,
    cut: cutAt,
    beforeRows: batches.slice(0, cutAt).flat(),
    afterRows: batches.slice(cutAt).flat(),
  }
  const session: SessionOptions = { shufflePartitions: 2, snapshotInterval: 2, warn: () => {}, ...options.session }
  const expected = sortByIdentity(
    options.expected !== undefined ? options.expected(input, cut) : await freshRunAfterCut(after, cut, session),
  )
  const upgraded = await runAcrossUpgrade(before, after, cut, session, options.directory ?? tmpdir())
  const actual = sortByIdentity(upgraded.rows)
  const difference = upgraded.failure ?? resultDifference(expected, actual, comparisonFor(after.outputMode))
  if (difference === undefined) return { holds: true, expected, actual, cut }
  const message = [
    `checkpointUpgradeCompatible does not hold (upgrade after batch ${cutAt} of ${batches.length}): ${difference}`,
    `  batches:  ${canonical(batches)}`,
    `  expected: ${canonical(expected)}`,
    `  actual:   ${canonical(actual)}`,
  ].join('\n')
  return { holds: false, expected, actual, cut, message }
}

/** Runs `before` over the batches before the cut and `after` over the rest, on one checkpoint and one source. */
async function runAcrossUpgrade<T, R0, R>(
  before: QueryUnderTest<T, R0>,
  after: QueryUnderTest<T, R>,
  cut: UpgradeCut<T>,
  session: SessionOptions,
  directory: string,
): Promise<{ rows: R[]; failure?: string }> {
  const root = await mkdtemp(join(directory, 'srx-upgrade-law-'))
  const run = { source: memorySource<T>(), checkpointLocation: join(root, 'checkpoint'), session }
  const afterSink = memorySink<R>()
  try {
    const failure =
      (await runPhase('before', before, memorySink<R0>(), cut.batches.slice(0, cut.cut), run)) ??
      (await runPhase('after', after, afterSink, cut.batches.slice(cut.cut), run))
    return { rows: afterSink.rows(), failure }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

/** Runs one query over some batches on the shared checkpoint; returns why it failed, if it did. */
async function runPhase<T, R>(
  name: string,
  query: QueryUnderTest<T, R>,
  sink: MemorySink<R>,
  batches: readonly (readonly T[])[],
  run: { source: MemorySource<T>; checkpointLocation: string; session: SessionOptions },
): Promise<string | undefined> {
  let running: StreamingQuery | undefined
  try {
    running = await query
      .build(createSession(run.session).readStream(run.source.source))
      .writeStream({ outputMode: query.outputMode, sink, checkpointLocation: run.checkpointLocation })
      .start()
    for (const batch of batches) {
      run.source.addData(batch)
      await running.processAllAvailable()
    }
    return undefined
  } catch (error) {
    return `'${name}' failed: ${errorText(error)}`
  } finally {
    await running?.stop()
  }
}

/** What a fresh run of `after` over all the batches writes in the batches after the cut, folded by output mode. */
async function freshRunAfterCut<T, R>(after: QueryUnderTest<T, R>, cut: UpgradeCut<T>, session: SessionOptions): Promise<R[]> {
  const source = memorySource<T>()
  const written: R[][] = []
  let recording = false
  const sink = foreachBatch<R>((rows) => {
    if (recording) written.push(rows.slice())
  })
  const running = await after
    .build(createSession(session).readStream(source.source))
    .writeStream({ outputMode: after.outputMode, sink })
    .start()
  try {
    for (const [i, batch] of cut.batches.entries()) {
      // Batches triggered from here on (no-data batches included) are the ones `after` runs after the upgrade.
      if (i === cut.cut) recording = true
      source.addData(batch)
      await running.processAllAvailable()
    }
  } finally {
    await running.stop()
  }
  switch (after.outputMode) {
    case 'append':
      return written.flat()
    case 'update':
      return upsertByIdentity(written.flat())
    case 'complete':
      return written[written.length - 1] ?? []
  }
}

/**
 * Options of the property `checkpointUpgradeCompatible`.
 * @example
 * await fc.assert(checkpointUpgradeCompatible({
 *   before: counts, after: { ...counts, outputMode: 'complete' },
 *   input: fc.array(fc.record({ k: fc.constantFrom('a', 'b') })), directory: '/dev/shm',
 * }), { numRuns: 30 })
 */
export interface CheckpointUpgradeCompatibleOptions<T, R0, R> extends UpgradeLawEnvironment {
  /** The query that wrote the checkpoint. */
  readonly before: QueryUnderTest<T, R0>
  /** The changed query that continues on it. */
  readonly after: QueryUnderTest<T, R>
  /** Inputs to try. With a watermark, generate in-order rows (non-decreasing event times). */
  readonly input: fc.Arbitrary<T[]>
  /** The table `after`'s sink must hold; default: what a fresh run of `after` writes after the cut. */
  readonly expected?: ExpectedAfterUpgrade<T, R>
  /** The most micro-batches an input is cut into (default 6). */
  readonly maxBatches?: number
}

/**
 * The law `checkpointUpgradeCompatible` as a fast-check property: for any input, any split into micro-batches and
 * any batch to upgrade after, `after` continuing on `before`'s checkpoint ends with the expected table (see
 * `checkpointUpgradeCompatibleHolds`). Pass `numRuns` to `fc.assert`, which prints the seed on failure.
 * @example
 * await fc.assert(checkpointUpgradeCompatible({
 *   before: { build: (s) => s.pipe(groupBy((r) => r.user, t.string), statsV1()), outputMode: 'update' },
 *   after: { build: (s) => s.pipe(groupBy((r) => r.user, t.string), statsV2()), outputMode: 'update' },
 *   input: fc.array(fc.record({ user: fc.constantFrom('a', 'b'), amount: fc.integer() })),
 * }), { numRuns: 100 })
 * @throws (when run) an AssertionError with the batches, the cut, the expected and the actual table when the law fails.
 */
export function checkpointUpgradeCompatible<T, R0, R>(
  options: CheckpointUpgradeCompatibleOptions<T, R0, R>,
): fc.IAsyncProperty<[T[], number[], number]> {
  return fc.asyncProperty(options.input, splitSeeds(options.maxBatches ?? 6), fc.nat({ max: 0xffff }), async (input, seeds, cutSeed) => {
    const splits = splitsOf(seeds, input.length)
    const result = await checkpointUpgradeCompatibleHolds(options.before, options.after, input, {
      splits,
      cut: cutSeed % (splits.length + 2),
      expected: options.expected,
      directory: options.directory,
      session: options.session,
    })
    assertLaw('checkpointUpgradeCompatible', result)
  })
}
