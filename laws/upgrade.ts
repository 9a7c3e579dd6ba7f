/**
 * Laws of safe upgrades (SPEC §5, §8): a changed query continues on an old checkpoint with the result it should have,
 * state codecs survive their JSON round trip, and migration chains agree with themselves and with the codecs they
 * connect. Plain predicates first (`…Holds`), then the fast-check properties users run in their suites.
 */
import { AssertionError } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
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
import { migrationPath } from '../src/state/migrations.js'
import { describeIoTsErrors } from '../src/util/ioTsErrors.js'
import { cutIntoBatches, planOf, type QueryUnderTest } from './query.js'
import { canonical, firstDifference, sortByIdentity, upsertByIdentity } from './rows.js'
import { resultShape } from './incremental.js'
import { splitSeeds, splitsOf } from './splits.js'

/* ------------------------------------------------------------------------------------------------------------------
 * checkpointUpgradeCompatible
 * ---------------------------------------------------------------------------------------------------------------- */

/** How an upgrade run cut the input: the micro-batches, and how many of them `before` ran. */
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

/** Where and how the upgrade law runs its queries. */
export interface UpgradeLawEnvironment {
  /** Parent directory of the temporary checkpoints (default `os.tmpdir()`); a tmpfs such as /dev/shm is fastest. */
  readonly directory?: string
  /**
   * Session settings of every run (default `{ shufflePartitions: 2, snapshotInterval: 2 }`, so a few batches
   * already write snapshots; warnings are dropped unless `warn` is given).
   */
  readonly session?: SessionOptions
}

/** The verdict of the upgrade law on one input, cut and split. */
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
  const shape = resultShape(after.outputMode, planOf(after).nodes)
  const ordered = (rows: readonly R[]) => (shape === 'stream' ? rows.slice() : sortByIdentity(rows))
  const expected = ordered(
    options.expected !== undefined ? options.expected(input, cut) : await freshRunAfterCut(after, cut, session),
  )
  const upgraded = await runAcrossUpgrade(before, after, cut, session, options.directory ?? tmpdir())
  const actual = ordered(upgraded.rows)
  const difference = upgraded.failure ?? firstDifference(expected, actual)
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

/** Options of the property `checkpointUpgradeCompatible`. */
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
    if (!result.holds) {
      throw new AssertionError({
        message: result.message,
        expected: result.expected,
        actual: result.actual,
        operator: 'checkpointUpgradeCompatible',
      })
    }
  })
}

/* ------------------------------------------------------------------------------------------------------------------
 * codecRoundTrip
 * ---------------------------------------------------------------------------------------------------------------- */

/** The verdict of a codec or migration law on one value. */
export interface ValueLawResult {
  readonly holds: boolean
  readonly message?: string
}

/**
 * The codec law on one value, as state is persisted: `codec.is(a)`; `decode(encode(a))` equals `a`; and the encoded
 * form survives JSON, `decode(JSON.parse(JSON.stringify(encode(a))))` equals `a`. Equality is canonical (object key
 * order does not matter, -0 equals 0; NaN and ±Infinity are not JSON, so a codec that accepts them fails).
 * @example codecRoundTripHolds(t.type({ n: t.number }), { n: 1 }).holds // true
 * @example codecRoundTripHolds(t.number, NaN).holds // false: JSON turns NaN into null
 */
export function codecRoundTripHolds<A>(codec: Codec<A>, value: A): ValueLawResult {
  const fail = (what: string): ValueLawResult => ({
    holds: false,
    message: `codecRoundTrip does not hold for codec ${codec.name} on ${canonical(value)}: ${what}`,
  })
  if (!codec.is(value)) return fail('is(a) is false')
  let encoded: unknown
  try {
    encoded = codec.encode(value)
  } catch (error) {
    return fail(`encode threw ${errorText(error)}`)
  }
  const direct = codec.decode(encoded)
  if (direct._tag === 'Left') return fail(`decode(encode(a)) failed: ${decodeErrors(direct.left)}`)
  if (canonical(direct.right) !== canonical(value)) return fail(`decode(encode(a)) is ${canonical(direct.right)}`)
  const json = JSON.stringify(encoded) as string | undefined
  if (json === undefined) return fail('encode(a) has no JSON form')
  const persisted = codec.decode(JSON.parse(json))
  if (persisted._tag === 'Left') return fail(`the JSON of encode(a), ${json}, does not decode: ${decodeErrors(persisted.left)}`)
  if (canonical(persisted.right) !== canonical(value)) {
    return fail(`the JSON of encode(a), ${json}, decodes to ${canonical(persisted.right)}`)
  }
  return { holds: true }
}

/**
 * The law `codecRoundTrip` as a fast-check property: every generated value survives being persisted through the
 * codec (see `codecRoundTripHolds`). Derive the values from the codec itself with `arbitraryFromCodec`.
 * @example fc.assert(codecRoundTrip(StateV2, arbitraryFromCodec(StateV2)), { numRuns: 200 })
 * @throws (when run) an Error naming the codec, the value and the step that lost it.
 */
export function codecRoundTrip<A>(codec: Codec<A>, arbitrary: fc.Arbitrary<A>): fc.IProperty<[A]> {
  return fc.property(arbitrary, (value) => {
    const result = codecRoundTripHolds(codec, value)
    if (!result.holds) throw new Error(result.message)
  })
}

/* ------------------------------------------------------------------------------------------------------------------
 * migrationLaws
 * ---------------------------------------------------------------------------------------------------------------- */

/** A migration step of any state types, as operators take them in `migrations`. */
export interface AnyMigration {
  readonly from: number
  readonly to: number
  readonly codec: t.Mixed
  migrate(old: never): unknown
}

/** What the migration laws need besides the steps. */
export interface MigrationLawOptions<S = unknown> {
  /** The version the generated old states are at (default: the lowest `from` of the steps). */
  readonly fromVersion?: number
  /** The operator's current version (default: the highest `to` of the steps). */
  readonly toVersion?: number
  /** The operator's current state codec: every migrated state must satisfy it and survive its JSON round trip. */
  readonly current?: Codec<S>
}

/**
 * The migration laws on one old state `old` at `fromVersion`, with the steps an operator declares:
 * 1. *decode* — each step's `codec` accepts the state it receives (`is`) and decodes its persisted (encoded, JSON)
 *    form back to it, and `migrate` does not throw on it;
 * 2. *chain* — a chain leads from every version reached to the current version (else restoring from there would be
 *    an IncompatibleCheckpointError);
 * 3. *identity* — a step from a version to itself returns its input, and the empty chain (`migrationPath(v, v)`)
 *    changes nothing;
 * 4. *composition* — every path of steps between two versions gives the same state (a direct step 1→3 and the
 *    chain 1→2→3 agree), so it does not matter which one the restore takes (every path is tried: keep chains short);
 * 5. *current* — the state reaching the current version satisfies `current` and survives its JSON round trip.
 * @example
 * migrationLawsHold([m12, m23], 5, { current: V3 }) // holds when m23(m12(5)) is a V3 state, whatever the path
 */
export function migrationLawsHold<S>(migrations: readonly AnyMigration[], old: unknown, options: MigrationLawOptions<S> = {}): ValueLawResult {
  const steps = migrations as readonly Step[]
  const fromVersion = options.fromVersion ?? Math.min(...steps.map((s) => s.from))
  const toVersion = options.toVersion ?? Math.max(fromVersion, ...steps.map((s) => s.to))
  const fail = (law: string, what: string): ValueLawResult => ({
    holds: false,
    message: `migrationLaws (${law}) do not hold for the state ${canonical(old)} at version ${fromVersion}: ${what}`,
  })
  // Every state reached, by version and by path: paths are simple (no version twice), as restores take them.
  const reached = new Map<number, { path: string; value: unknown }[]>([[fromVersion, [{ path: `${fromVersion}`, value: old }]]])
  const pending: { version: number; path: string; value: unknown; seen: ReadonlySet<number> }[] = [
    { version: fromVersion, path: `${fromVersion}`, value: old, seen: new Set([fromVersion]) },
  ]
  while (pending.length > 0) {
    const at = pending.shift()!
    for (const step of steps.filter((s) => s.from === at.version)) {
      const label = `${step.from}→${step.to}`
      const accepted = persistedThrough(step.codec, at.value)
      if (accepted !== undefined) return fail('decode', `step ${label} (codec ${step.codec.name}) ${accepted}`)
      let next: unknown
      try {
        next = step.migrate(at.value as never)
      } catch (error) {
        return fail('decode', `step ${label} threw ${errorText(error)} on a state its codec accepts`)
      }
      if (step.from === step.to) {
        if (canonical(next) !== canonical(at.value)) return fail('identity', `step ${label} changed ${canonical(at.value)} into ${canonical(next)}`)
        continue
      }
      if (at.seen.has(step.to) || step.to > toVersion) continue
      const path = `${at.path}→${step.to}`
      reached.set(step.to, [...(reached.get(step.to) ?? []), { path, value: next }])
      pending.push({ version: step.to, path, value: next, seen: new Set([...at.seen, step.to]) })
    }
  }
  for (const [version, states] of reached) {
    if (version !== toVersion && migrationPath(steps, version, toVersion) === undefined) {
      return fail('chain', `no chain of steps leads from version ${version} to ${toVersion}`)
    }
    // The chain a restore takes from a version to itself.
    const own = (migrationPath(steps, version, version) ?? []).reduce((value, step) => step.migrate(value as never), states[0]!.value)
    if (canonical(own) !== canonical(states[0]!.value)) {
      return fail('identity', `restoring version ${version} as version ${version} changed ${canonical(states[0]!.value)} into ${canonical(own)}`)
    }
    const [first, ...others] = states
    const differing = others.find((s) => canonical(s.value) !== canonical(first!.value))
    if (differing !== undefined) {
      return fail('composition', `path ${first!.path} gives ${canonical(first!.value)} but path ${differing.path} gives ${canonical(differing.value)}`)
    }
  }
  const final = reached.get(toVersion)?.[0]
  if (final === undefined) return fail('chain', `no chain of steps leads from version ${fromVersion} to ${toVersion}`)
  if (options.current !== undefined) {
    const accepted = persistedThrough(options.current as t.Mixed, final.value)
    if (accepted !== undefined) return fail('current', `the current codec ${options.current.name} ${accepted}`)
  }
  return { holds: true }
}

/**
 * The migration laws as a fast-check property over old states (see `migrationLawsHold`). `arbitrary` generates
 * states at the first version of the chain — derive it from that step's codec with `arbitraryFromCodec`.
 * @example
 * const m12 = migration({ from: 1, to: 2, codec: t.number, migrate: (n) => ({ total: n }) })
 * const m23 = migration({ from: 2, to: 3, codec: V2, migrate: (s) => ({ ...s, n: 0 }) })
 * fc.assert(migrationLaws([m12, m23], arbitraryFromCodec(t.number), { current: V3 }), { numRuns: 200 })
 * @throws RangeError for an empty list of steps; (when run) an Error naming the law, the state and the step that
 * broke it.
 */
export function migrationLaws<Old, S>(
  migrations: readonly AnyMigration[],
  arbitrary: fc.Arbitrary<Old>,
  options: MigrationLawOptions<S> = {},
): fc.IProperty<[Old]> {
  if (migrations.length === 0) throw new RangeError('migrationLaws: give at least one migration step')
  return fc.property(arbitrary, (old) => {
    const result = migrationLawsHold(migrations, old, options)
    if (!result.holds) throw new Error(result.message)
  })
}

type Step = { readonly from: number; readonly to: number; readonly codec: t.Mixed; migrate(old: unknown): unknown }

/** Why `value` would not survive being persisted through `codec` and read back, or undefined when it would. */
function persistedThrough(codec: t.Mixed, value: unknown): string | undefined {
  if (!codec.is(value)) return `does not accept ${canonical(value)}`
  const result = codecRoundTripHolds(codec as Codec<unknown>, value)
  return result.holds ? undefined : `does not read back ${canonical(value)} once persisted`
}

/* ------------------------------------------------------------------------------------------------------------------
 * arbitraryFromCodec
 * ---------------------------------------------------------------------------------------------------------------- */

/** Options of `arbitraryFromCodec`. */
export interface ArbitraryFromCodecOptions {
  /**
   * Numbers for `t.number` (default: finite doubles, -0 included). NaN and ±Infinity satisfy `t.number` but have no
   * JSON form, so persisted state cannot hold them: pass e.g. `fc.constantFrom(NaN, Infinity)` to see what your
   * state would do with them.
   */
  readonly number?: fc.Arbitrary<number>
  /** Strings for `t.string` (default `fc.string()`). */
  readonly string?: fc.Arbitrary<string>
  /** Longest generated arrays (default 5). */
  readonly maxLength?: number
}

/**
 * Values of an io-ts codec's type, derived from the codec (the single source of truth for state): `t.number`,
 * `t.string`, `t.boolean`, `t.null`, `t.undefined`, `t.literal`, `t.keyof`, `t.type`, `t.partial`, `t.exact`/`t.strict`,
 * `t.readonly`, `t.union`, `t.intersection` of records, `t.array`, `t.readonlyArray`, `t.tuple`, `t.record` with string
 * keys, and refinements/brands such as `t.Int` (generated from the base codec, filtered by `is`).
 * @example fc.sample(arbitraryFromCodec(t.type({ n: t.number, tags: t.array(t.string) })), 1) // [{ n: -0.5, tags: ['x'] }]
 * @throws TypeError naming a codec it cannot derive values for (give an arbitrary of your own).
 */
export function arbitraryFromCodec<A>(codec: Codec<A>, options: ArbitraryFromCodecOptions = {}): fc.Arbitrary<A> {
  return derive(codec as unknown as t.Mixed, options) as fc.Arbitrary<A>
}

function derive(codec: t.Mixed, options: ArbitraryFromCodecOptions): fc.Arbitrary<unknown> {
  const maxLength = options.maxLength ?? 5
  if (codec instanceof t.NumberType) return options.number ?? fc.double({ noNaN: true, noDefaultInfinity: true })
  if (codec instanceof t.StringType) return options.string ?? fc.string()
  if (codec instanceof t.BooleanType) return fc.boolean()
  if (codec instanceof t.NullType) return fc.constant(null)
  if (codec instanceof t.UndefinedType || codec instanceof t.VoidType) return fc.constant(undefined)
  if (codec instanceof t.LiteralType) return fc.constant(codec.value)
  if (codec instanceof t.KeyofType) return fc.constantFrom(...Object.keys(codec.keys))
  if (codec instanceof t.InterfaceType) return fc.record(mapProps(codec.props, options))
  if (codec instanceof t.PartialType) return fc.record(mapProps(codec.props, options), { requiredKeys: [] })
  if (codec instanceof t.ExactType || codec instanceof t.ReadonlyType) return derive(codec.type, options)
  if (codec instanceof t.UnionType) return fc.oneof(...(codec.types as t.Mixed[]).map((c) => derive(c, options)))
  if (codec instanceof t.IntersectionType) {
    return fc
      .tuple(...(codec.types as t.Mixed[]).map((c) => derive(c, options)))
      .map((parts) => Object.assign({}, ...parts) as unknown)
      .filter((v) => codec.is(v))
  }
  if (codec instanceof t.ArrayType || codec instanceof t.ReadonlyArrayType) return fc.array(derive(codec.type, options), { maxLength })
  if (codec instanceof t.TupleType) return fc.tuple(...(codec.types as t.Mixed[]).map((c) => derive(c, options)))
  if (codec instanceof t.DictionaryType && codec.domain instanceof t.StringType) {
    return fc.dictionary(fc.string(), derive(codec.codomain, options), { maxKeys: maxLength })
  }
  if (codec instanceof t.RefinementType) {
    // t.Int would almost never come out of doubles filtered by is().
    const base = codec.name === 'Int' && codec.type instanceof t.NumberType ? fc.integer() : derive(codec.type, options)
    return base.filter((v) => codec.is(v))
  }
  throw new TypeError(`arbitraryFromCodec: cannot derive values for the codec ${codec.name}; pass an arbitrary of your own`)
}

function mapProps(props: t.Props, options: ArbitraryFromCodecOptions): Record<string, fc.Arbitrary<unknown>> {
  return Object.fromEntries(Object.entries(props).map(([k, c]) => [k, derive(c, options)]))
}

function decodeErrors(errors: t.Errors): string {
  const { path, message } = describeIoTsErrors(errors)
  return path === '' ? message : `${path}: ${message}`
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
