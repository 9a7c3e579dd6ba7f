/**
 * The migration laws: every old state decodes and migrates into a state the next codec accepts, chains agree with
 * direct steps, and an empty chain is the identity. Plain predicate first (`migrationLawsHold`), then the property.
 */
import fc from 'fast-check'
import * as t from 'io-ts'
import type { Codec, ErasedMigration } from '../src/index.js'
import { migrationPath } from '../src/testing.js'
import { codecRoundTripHolds, errorText, type ValueLawResult } from './codecs.js'
import { canonical } from './rows.js'


/* ------------------------------------------------------------------------------------------------------------------
 * migrationLaws
 * ---------------------------------------------------------------------------------------------------------------- */

/** A migration step of any state types, as operators take them in `migrations`. */
export type AnyMigration = ErasedMigration

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

