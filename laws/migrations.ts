/**
 * The migration laws: every old state decodes and migrates into a state the next codec accepts, chains agree with
 * direct steps, identity steps change nothing, and the engine's own restore of a real checkpoint gives the state the
 * chain gives. Plain predicates first (`migrationLawsHold`, `migrationRestoreHolds`), then the property.
 */
import fc from 'fast-check'
import * as t from 'io-ts'
import type { Codec, ErasedMigration } from '../src/index.js'
import { codecRoundTripHolds, errorText, type ValueLawResult } from './codecs.js'
import { restoredByEngine } from './migrationRestore.js'
import { canonical } from './rows.js'


/* ------------------------------------------------------------------------------------------------------------------
 * migrationLaws
 * ---------------------------------------------------------------------------------------------------------------- */

/**
 * A migration step of any state types, as operators take them in `migrations`.
 * @example
 * const steps: AnyMigration[] = [migration({ from: 1, to: 2, codec: t.number, migrate: (total) => ({ total, n: 0 }) })]
 * await fc.assert(migrationLaws(steps, arbitraryFromCodec(t.number)))
 */
export type AnyMigration = ErasedMigration

/**
 * What the migration laws need besides the steps.
 * @example migrationLawsHold(steps, 5, { fromVersion: 1, toVersion: 2, current: t.type({ total: t.number, n: t.number }) }) // { holds: true }
 */
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
 * 3. *identity* — a step from a version to itself returns its input;
 * 4. *composition* — every path of steps between two versions gives the same state (a direct step 1→3 and the
 *    chain 1→2→3 agree), so it does not matter which one the restore takes (every path is tried: keep chains short);
 * 5. *current* — the state reaching the current version satisfies `current` and survives its JSON round trip.
 * @example
 * migrationLawsHold([m12, m23], 5, { current: V3 }) // holds when m23(m12(5)) is a V3 state, whatever the path
 */
export function migrationLawsHold<S>(migrations: readonly AnyMigration[], old: unknown, options: MigrationLawOptions<S> = {}): ValueLawResult {
  const verdict = migrate(migrations, old, options)
  return verdict.holds ? { holds: true } : verdict
}

/** The versions of a chain: where old states start and where they must arrive. */
export function versionsOf<S>(migrations: readonly AnyMigration[], options: MigrationLawOptions<S>): { fromVersion: number; toVersion: number } {
  const fromVersion = options.fromVersion ?? Math.min(...migrations.map((s) => s.from))
  return { fromVersion, toVersion: options.toVersion ?? Math.max(fromVersion, ...migrations.map((s) => s.to)) }
}

/**
 * The value laws on one old state, and the state it becomes at the current version when they hold.
 */
export function migrate<S>(
  migrations: readonly AnyMigration[],
  old: unknown,
  options: MigrationLawOptions<S>,
): { holds: true; current: unknown } | { holds: false; message: string } {
  const steps = migrations as readonly Step[]
  const { fromVersion, toVersion } = versionsOf(migrations, options)
  const fail = (law: string, what: string) => ({
    holds: false as const,
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
    if (!leadsTo(steps, version, toVersion)) return fail('chain', `no chain of steps leads from version ${version} to ${toVersion}`)
    const [first, ...others] = states
    const differing = others.find((s) => canonical(s.value) !== canonical(first!.value))
    if (differing !== undefined) {
      return fail('composition', `path ${first!.path} gives ${canonical(first!.value)} but path ${differing.path} gives ${canonical(differing.value)}`)
    }
  }
  const final = reached.get(toVersion)![0]!
  if (options.current !== undefined) {
    const accepted = persistedThrough(options.current as t.Mixed, final.value)
    if (accepted !== undefined) return fail('current', `the current codec ${options.current.name} ${accepted}`)
  }
  return { holds: true, current: final.value }
}

/** Whether steps lead from version `from` up to version `to`. */
function leadsTo(steps: readonly Step[], from: number, to: number): boolean {
  const seen = new Set([from])
  for (const version of seen) {
    if (version === to) return true
    for (const step of steps) if (step.from === version && step.to <= to) seen.add(step.to)
  }
  return false
}

/**
 * The migration laws as a fast-check property over lists of one to eight old states: the value laws on each (see
 * `migrationLawsHold`), then the engine's own restore of all of them from one checkpoint (see
 * `migrationRestoreHolds`): a state written by an operator at the first version and restored by one at the current
 * version is the state the chain gives. `arbitrary` generates states at the first version of
 * the chain — derive it from that step's codec with `arbitraryFromCodec`.
 * @example
 * const m12 = migration({ from: 1, to: 2, codec: t.number, migrate: (n) => ({ total: n }) })
 * const m23 = migration({ from: 2, to: 3, codec: V2, migrate: (s) => ({ ...s, n: 0 }) })
 * await fc.assert(migrationLaws([m12, m23], arbitraryFromCodec(t.number), { current: V3 }), { numRuns: 50 })
 * @throws RangeError for an empty list of steps; (when run) an Error naming the law, the state and the step that
 * broke it.
 */
export function migrationLaws<Old, S>(
  migrations: readonly AnyMigration[],
  arbitrary: fc.Arbitrary<Old>,
  options: MigrationLawOptions<S> = {},
): fc.IAsyncProperty<[Old[]]> {
  if (migrations.length === 0) throw new RangeError('migrationLaws: give at least one migration step')
  // Several states per case: the engine restores them all from one checkpoint, one key each.
  return fc.asyncProperty(fc.array(arbitrary, { minLength: 1, maxLength: 8 }), async (olds) => {
    for (const old of olds) {
      const result = migrationLawsHold(migrations, old, options)
      if (!result.holds) throw new Error(result.message)
    }
    const restored = await migrationRestoreHolds(migrations, olds, options)
    if (!restored.holds) throw new Error(restored.message)
  })
}

/**
 * The engine's own restore of old states: an operator at the first version (`mapGroupsWithState` with the first
 * step's codec) writes `olds`, one per key, to a real checkpoint; an operator at the current version with
 * `migrations` starts on it, so the engine chooses the chain and runs its decode and migrate path; each restored
 * state must equal what the chain gives (see `migrationLawsHold`, which must hold first).
 * @example await migrationRestoreHolds([m12, m23], [5, -1], { current: V3 }) // { holds: true }
 * @throws never; a failed restore is a verdict.
 */
export async function migrationRestoreHolds<S>(
  migrations: readonly AnyMigration[],
  olds: readonly unknown[],
  options: MigrationLawOptions<S> & { readonly directory?: string } = {},
): Promise<ValueLawResult> {
  const expected: unknown[] = []
  for (const old of olds) {
    const verdict = migrate(migrations, old, options)
    if (!verdict.holds) return verdict
    expected.push(verdict.current)
  }
  const { fromVersion, toVersion } = versionsOf(migrations, options)
  const first = migrations.find((m) => m.from === fromVersion)
  if (first === undefined) return { holds: true }
  const restored = await restoredByEngine(migrations, olds, {
    fromVersion,
    toVersion,
    codec: first.codec,
    current: options.current as t.Mixed | undefined,
    directory: options.directory,
  })
  const fail = (what: string): ValueLawResult => ({
    holds: false,
    message: `migrationLaws (restore) do not hold for the states ${canonical(olds)} at version ${fromVersion}: ${what}`,
  })
  if ('failure' in restored) return fail(restored.failure)
  for (const [i, want] of expected.entries()) {
    const got = restored.states.get(i)
    if (got === undefined) return fail(`the state of ${canonical(olds[i])} was not restored at version ${toVersion}`)
    if (canonical(got.value) !== canonical(want)) {
      return fail(`the engine restored ${canonical(olds[i])} at version ${toVersion} as ${canonical(got.value)}, the chain gives ${canonical(want)}`)
    }
  }
  return { holds: true }
}

type Step = { readonly from: number; readonly to: number; readonly codec: t.Mixed; migrate(old: unknown): unknown }

/** Why `value` would not survive being persisted through `codec` and read back, or undefined when it would. */
function persistedThrough(codec: t.Mixed, value: unknown): string | undefined {
  if (!codec.is(value)) return `does not accept ${canonical(value)}`
  const result = codecRoundTripHolds(codec as Codec<unknown>, value)
  return result.holds ? undefined : `does not read back ${canonical(value)} once persisted`
}

