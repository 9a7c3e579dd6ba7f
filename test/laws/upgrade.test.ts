/**
 * The upgrade laws (laws/upgrade.ts) over every built-in stateful operator and the sample migration chains, and one
 * test per law showing that it catches what it is about.
 */
import { accessSync, constants } from 'node:fs'
import { tmpdir } from 'node:os'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { planOf, type QueryUnderTest } from '../../laws/query.js'
import {
  arbitraryFromCodec,
  checkpointUpgradeCompatible,
  checkpointUpgradeCompatibleHolds,
  codecRoundTrip,
  codecRoundTripHolds,
  migrationLaws,
  migrationLawsHold,
  migrationRestoreHolds,
} from '../../laws/index.js'
import { restoredByEngine } from '../../laws/migrationRestore.js'
import {
  agg,
  avg,
  count,
  dropDuplicates,
  groupBy,
  max,
  migration,
  min,
  type Stream,
  sum,
  withWatermark,
} from '../../src/index.js'
import { compilePlan } from '../../src/plan/compile.js'
import {
  spend12,
  spendV1,
  spendV2,
  SpendV1,
  SpendV2,
  stats12,
  stats13,
  stats23,
  StatsV1,
  StatsV2,
  StatsV3,
  statsV1,
  statsV2,
  statsV3,
} from '../fixtures/upgradeSamples.js'
import { type Sale, T0 } from '../fixtures/upgradeSupport.js'
import { holdsRuns } from '../support/propertyRuns.js'

const numRuns = 100
/** Runs of the properties below that must hold (fewer under mutation testing; see holdsRuns). */
const holds = holdsRuns(numRuns)

/** Checkpoints of the upgrade law on a tmpfs when there is one: the law is about state, not about fsync latency. */
const directory = (() => {
  try {
    accessSync('/dev/shm', constants.W_OK)
    return '/dev/shm'
  } catch {
    return tmpdir()
  }
})()

const sales: fc.Arbitrary<Sale[]> = fc.array(
  fc.record({ user: fc.constantFrom('a', 'b', 'c'), amount: fc.integer({ min: -50, max: 100 }), ts: fc.constant(T0) }),
  { maxLength: 12 },
)

/** Sales in event-time order (steps of 0–4 s), for queries with a watermark. */
const orderedSales: fc.Arbitrary<Sale[]> = fc
  .array(fc.record({ user: fc.constantFrom('a', 'b', 'c'), amount: fc.integer({ min: 0, max: 9 }), dt: fc.integer({ min: 0, max: 4000 }) }), { maxLength: 12 })
  .map((rows) => {
    let ts = T0
    return rows.map(({ dt, ...row }) => ({ ...row, ts: (ts += dt) }))
  })

/** The message of the error fast-check caught (fast-check reports it as the `cause` of its own error). */
async function failureOf(run: Promise<unknown>): Promise<string> {
  try {
    await run
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause
    return cause instanceof Error ? cause.message : String(error)
  }
  throw new Error('expected the law to fail, but it held')
}

const byUser = groupBy((r: Sale) => r.user, t.string)

/** The key and state codecs of a query's stateful operators, as its compiled plan persists them. */
function persistedCodecs<R>(build: (s: Stream<Sale>) => Stream<R>, outputMode: QueryUnderTest<Sale, R>['outputMode'] = 'update') {
  return compilePlan(planOf({ build, outputMode }).nodes, outputMode).operators.map((op) => ({
    name: op.name,
    key: op.keyCodec as t.Type<unknown, unknown, unknown>,
    state: op.stateCodec as t.Type<unknown, unknown, unknown>,
  }))
}

describe.concurrent('codecRoundTrip', () => {
  const operators: [string, (s: Stream<Sale>) => Stream<unknown>, QueryUnderTest<Sale, unknown>['outputMode']?][] = [
    ['count', (s) => s.pipe(byUser, count())],
    ['sum', (s) => s.pipe(byUser, sum((r) => r.amount))],
    ['avg', (s) => s.pipe(byUser, avg((r) => r.amount))],
    ['min', (s) => s.pipe(byUser, min((r) => r.amount))],
    ['max', (s) => s.pipe(byUser, max((r) => r.amount))],
    ['agg', (s) => s.pipe(byUser, agg({ n: count(), low: min((r: Sale) => r.amount), mean: avg((r: Sale) => r.amount) }))],
    ['aggregate v3', (s) => s.pipe(byUser, statsV3())],
    ['windowed count', (s) => s.pipe(groupBy((r) => [r.user, r.amount] as [string, number], t.tuple([t.string, t.number]), { window: { time: (r) => r.ts, size: 10_000 } }), count())],
    ['dropDuplicates', (s) => s.pipe(withWatermark((r) => r.ts, 1000), dropDuplicates((r) => r.ts, t.number, { within: (r) => r.ts })), 'append'],
    ['mapGroupsWithState v2', spendV2],
  ]
  for (const [name, build, mode] of operators) {
    it(`holds for the key and state codecs of ${name}`, () => {
      const ops = persistedCodecs(build, mode)
      expect(ops).toHaveLength(1)
      for (const { key, state } of ops) {
        fc.assert(codecRoundTrip(key, arbitraryFromCodec(key)), { numRuns })
        fc.assert(codecRoundTrip(state, arbitraryFromCodec(state)), { numRuns })
      }
    })
  }

  it('holds for a custom codec with a custom arbitrary (a Date persisted as an ISO string)', () => {
    const DateFromIso = new t.Type<Date, string, unknown>(
      'DateFromIso',
      (u): u is Date => u instanceof Date,
      (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
      (d) => d.toISOString(),
    )
    fc.assert(codecRoundTrip(DateFromIso, fc.date({ noInvalidDate: true })), { numRuns })
  })

  it('fails for state that JSON cannot carry: t.number accepts NaN and ±Infinity, JSON writes null', async () => {
    const message = await failureOf(Promise.resolve().then(() => fc.assert(codecRoundTrip(t.number, fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity))), { numRuns, endOnFailure: true })))
    expect(message).toMatch(/codecRoundTrip does not hold for codec number on (NaN|Infinity|-Infinity): the JSON of encode\(a\), null, does not decode/)
  })

  it('fails for a codec whose encode loses information', async () => {
    const Rounded = new t.Type<number, number, unknown>('Rounded', t.number.is, t.number.validate, (n) => Math.round(n))
    const message = await failureOf(Promise.resolve().then(() => fc.assert(codecRoundTrip(Rounded, fc.double({ min: 0.1, max: 0.4 })), { numRuns })))
    expect(message).toMatch(/codec Rounded on 0\.\d+: decode\(encode\(a\)\) is 0/)
  })

  it('explains one value with codecRoundTripHolds', () => {
    expect(codecRoundTripHolds(StatsV3, { total: 1, n: 2 })).toEqual({ holds: true })
    expect(codecRoundTripHolds(StatsV3, { total: 1 } as never).message).toMatch(/is\(a\) is false/)
  })

  it('derives values for every codec shape it supports, and names the one it cannot', () => {
    const Everything = t.type({
      n: t.number, s: t.string, b: t.boolean, z: t.null, lit: t.literal('x'), k: t.keyof({ on: null, off: null }),
      opt: t.partial({ p: t.number }), tags: t.array(t.string), ro: t.readonlyArray(t.number), pair: t.tuple([t.string, t.number]),
      u: t.union([t.number, t.null]), both: t.intersection([t.type({ a: t.number }), t.type({ b: t.string })]),
      dict: t.record(t.string, t.number), int: t.Int, exact: t.strict({ e: t.boolean }),
    })
    fc.assert(codecRoundTrip(Everything, arbitraryFromCodec(Everything)), { numRuns })
    expect(() => arbitraryFromCodec(t.unknown)).toThrow(/cannot derive values for the codec unknown/)
  })
})

/** Each case restores up to eight states on a real checkpoint; 30 cases try up to 240 states. */
const migrationRuns = holdsRuns(30)

describe.concurrent('migrationLaws', () => {
  it('hold for the sample chain stats 1 → 2 → 3', async () => {
    await fc.assert(migrationLaws([stats12, stats23], arbitraryFromCodec(StatsV1), { current: StatsV3 }), { numRuns: migrationRuns })
  })

  it('hold for the chain with a direct step 1 → 3 that agrees with it', async () => {
    await fc.assert(migrationLaws([stats12, stats23, stats13], arbitraryFromCodec(StatsV1), { current: StatsV3 }), { numRuns: migrationRuns })
  })

  it('hold for the mapGroupsWithState step spend 1 → 2, and for the state the current codec expects', async () => {
    await fc.assert(migrationLaws([spend12], arbitraryFromCodec(SpendV1), { current: SpendV2 }), { numRuns: migrationRuns })
  })

  it('hold with identity steps, from a later version of the chain', async () => {
    const keep = migration({ from: 2, to: 2, codec: StatsV2, migrate: (s) => s })
    await fc.assert(migrationLaws([stats12, keep, stats23], arbitraryFromCodec(StatsV2), { fromVersion: 2, current: StatsV3 }), { numRuns: migrationRuns })
  })

  it('fail (composition) when a direct step disagrees with the chain', async () => {
    const disagrees = migration({ from: 1, to: 3, codec: StatsV1, migrate: (old) => ({ total: old, n: 0 }) })
    const message = await failureOf(fc.assert(migrationLaws([stats12, stats23, disagrees], arbitraryFromCodec(StatsV1)), { numRuns }))
    expect(message).toMatch(/migrationLaws \(composition\) do not hold .* path 1→3 gives \{"n":0,"total":.*\} but path 1→2→3 gives \{"n":-1/)
  })

  it('fail (identity) when a step from a version to itself changes the state', async () => {
    const bumps = migration({ from: 2, to: 2, codec: StatsV2, migrate: (s) => ({ total: s.total + 1 }) })
    const message = await failureOf(fc.assert(migrationLaws([stats12, bumps, stats23], arbitraryFromCodec(StatsV1)), { numRuns }))
    expect(message).toMatch(/migrationLaws \(identity\) do not hold .*step 2→2 changed/)
  })

  it('fail (chain) when a step is missing', async () => {
    const message = await failureOf(fc.assert(migrationLaws([stats12], arbitraryFromCodec(StatsV1), { toVersion: 3 }), { numRuns }))
    expect(message).toMatch(/migrationLaws \(chain\) do not hold .*no chain of steps leads from version [12] to 3/)
  })

  it('fail (decode) when a step codec does not read the state it is given', async () => {
    const wrongCodec = migration({ from: 1, to: 2, codec: t.type({ total: t.number }), migrate: (old) => old })
    const message = await failureOf(fc.assert(migrationLaws([wrongCodec], arbitraryFromCodec(StatsV1)), { numRuns }))
    expect(message).toMatch(/migrationLaws \(decode\) do not hold .*step 1→2 \(codec \{ total: number \}\) does not accept/)
  })

  it('fail (current) when the migrated state does not fit the current codec', async () => {
    const message = await failureOf(fc.assert(migrationLaws([stats12], arbitraryFromCodec(StatsV1), { current: StatsV3 }), { numRuns }))
    expect(message).toMatch(/migrationLaws \(current\) do not hold .*the current codec \{ total: number, n: number \} does not accept/)
  })

  it('explains one state with migrationLawsHold', () => {
    expect(migrationLawsHold([stats12, stats23], 5, { current: StatsV3 })).toEqual({ holds: true })
  })

  it('restore a v1 state with the engine directly at version 3, through the chain the engine picks', async () => {
    expect(await migrationRestoreHolds([stats23, stats12], [5, -0.5, 0], { current: StatsV3, directory })).toEqual({ holds: true })
  })

  /** The chain with its migrate functions swapped: 1→2 runs the 2→3 code and 2→3 runs the 1→2 code. */
  const reversed = [
    migration({ from: 1, to: 2, codec: StatsV1, migrate: (old: number) => stats23.migrate({ total: old }) as never }),
    migration({ from: 2, to: 3, codec: StatsV2, migrate: (old) => stats12.migrate(old.total) as never }),
  ]

  it('fail for a reversed migration chain within the default number of runs', async () => {
    const details = await fc.check(migrationLaws(reversed, arbitraryFromCodec(StatsV1), { current: StatsV3 }), { endOnFailure: true })
    expect(details.failed).toBe(true)
    expect(String(details.errorInstance)).toMatch(/migrationLaws \((decode|current)\) do not hold /)
  })

  it('fail (restore) when the engine cannot restore what the chain gives: the reversed chain on a real checkpoint', async () => {
    const result = await restoredByEngine(reversed, [5], { fromVersion: 1, toVersion: 3, codec: StatsV1, current: StatsV3, directory })
    expect(result).toMatchObject({ failure: expect.stringMatching(/version 3 failed on the checkpoint: IncompatibleCheckpointError: .*cannot be migrated to version 3/s) })
  })
})

describe.concurrent('checkpointUpgradeCompatible', { timeout: 60_000 }, () => {
  const counts: QueryUnderTest<Sale, unknown> = { build: (s) => s.pipe(byUser, count()), outputMode: 'update' }
  const upgrade = <R0, R>(before: QueryUnderTest<Sale, R0>, after: QueryUnderTest<Sale, R>) =>
    checkpointUpgradeCompatible({ before, after, input: sales, directory })

  it('holds for a restart of the same query', () => fc.assert(upgrade(counts, counts), { numRuns: holds }))

  it('holds for output mode update → complete of an aggregation', () =>
    fc.assert(upgrade(counts, { ...counts, outputMode: 'complete' }), { numRuns: holds }))

  it('holds for aggregate stats v1 → v2, whose migration agrees with the v2 fold', () =>
    fc.assert(upgrade({ build: (s) => s.pipe(byUser, statsV1()), outputMode: 'update' }, { build: (s) => s.pipe(byUser, statsV2()), outputMode: 'update' }), { numRuns: holds }))

  it('holds for mapGroupsWithState spend v1 → v2', () =>
    fc.assert(upgrade({ build: spendV1, outputMode: 'update' }, { build: spendV2, outputMode: 'update' }), { numRuns: holds }))

  it('holds for a restart of a windowed append aggregation: the watermark and open windows survive', () => {
    const windowed: QueryUnderTest<Sale, unknown> = {
      build: (s) => s.pipe(withWatermark((r) => r.ts, '3 seconds'), groupBy((r) => r.user, t.string, { window: { time: (r: Sale) => r.ts, size: '5 seconds' } }), count()),
      outputMode: 'append',
    }
    return fc.assert(checkpointUpgradeCompatible({ before: windowed, after: windowed, input: orderedSales, directory }), { numRuns: holds })
  })

  const v2: QueryUnderTest<Sale, unknown> = { build: (s) => s.pipe(byUser, statsV2()), outputMode: 'update' }
  const v3: QueryUnderTest<Sale, unknown> = { build: (s) => s.pipe(byUser, statsV3()), outputMode: 'update' }

  it('holds for stats v2 → v3 with the expected table its placeholder migration implies', () =>
    fc.assert(
      checkpointUpgradeCompatible({
        before: v2,
        after: v3,
        input: sales,
        directory,
        // Migrated groups count their sales from -1 (unknown before v3); new groups from 0.
        expected: (input, { beforeRows, afterRows }) =>
          [...new Set(afterRows.map((r) => r.user))].map((user) => {
            const total = input.filter((r) => r.user === user).reduce((n, r) => n + r.amount, 0)
            const n = afterRows.filter((r) => r.user === user).length - (beforeRows.some((r) => r.user === user) ? 1 : 0)
            return { key: user, stats: `${total}/${n}` }
          }),
      }),
      { numRuns: holds },
    ))

  it('fails for stats v2 → v3 by default: the placeholder n = -1 is not what a fresh v3 counts', async () => {
    const message = await failureOf(fc.assert(upgrade(v2, v3), { numRuns, endOnFailure: true }))
    expect(message).toMatch(/checkpointUpgradeCompatible does not hold \(upgrade after batch \d+ of \d+\): \d+ differences?:\n  ~ \["\w",null\]: expected \{"key":"\w","stats":"-?\d+\/\d+"\}, actual \{"key":"\w","stats":"-?\d+\/-?\d+"\}/)
  })

  it('fails for a change the checkpoint refuses (count → sum), with the reasons', async () => {
    const sums: QueryUnderTest<Sale, unknown> = { build: (s) => s.pipe(byUser, sum((r) => r.amount)), outputMode: 'update' }
    const message = await failureOf(fc.assert(upgrade(counts, sums), { numRuns, endOnFailure: true }))
    expect(message).toMatch(/'after' failed: IncompatibleCheckpointError: .*was 'count' \(aggregate, key string\), now 'sum'/s)
  })

  it('explains one run with checkpointUpgradeCompatibleHolds', async () => {
    const input = [{ user: 'a', amount: 1, ts: T0 }, { user: 'b', amount: 1, ts: T0 }, { user: 'a', amount: 1, ts: T0 }]
    const result = await checkpointUpgradeCompatibleHolds(counts, { ...counts, outputMode: 'complete' }, input, { splits: [1, 2], cut: 2, directory })
    expect(result).toMatchObject({ holds: true, actual: [{ key: 'a', count: 2 }, { key: 'b', count: 1 }] })
    expect(result.cut.beforeRows).toEqual(input.slice(0, 2))
  })
})
