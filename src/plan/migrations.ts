import { IncompatibleCheckpointError } from '../errors.js'
import type { ErasedMigration } from './nodes.js'

/**
 * The migration steps that carry state from version `from` to version `to`: the shortest chain of the given steps
 * (a direct step wins over a chain of smaller ones, which the migration laws require to agree).
 * @returns the steps in order, [] when `from === to`, undefined when no chain exists.
 * @example migrationPath([m12, m23, m13], 1, 3) // [m13]: the direct step
 * @throws never.
 */
export function migrationPath(migrations: readonly ErasedMigration[], from: number, to: number): ErasedMigration[] | undefined {
  if (from === to) return []
  const queue: { version: number; path: ErasedMigration[] }[] = [{ version: from, path: [] }]
  const seen = new Set([from])
  while (queue.length > 0) {
    const { version, path } = queue.shift()!
    for (const step of [...migrations].sort((a, b) => b.to - a.to)) {
      if (step.from !== version || seen.has(step.to) || step.to > to) continue
      const next = [...path, step]
      if (step.to === to) return next
      seen.add(step.to)
      queue.push({ version: step.to, path: next })
    }
  }
  return undefined
}

/**
 * The migration chain from `fromVersion` to the operator's version.
 * @throws IncompatibleCheckpointError for a lowered version or a missing step.
 */
export function checkMigration(op: { name: string; version: number; migrations: readonly ErasedMigration[] }, fromVersion: number, location: string): ErasedMigration[] {
  if (fromVersion > op.version) {
    throw new IncompatibleCheckpointError(location, [
      `operator '${op.name}': the checkpoint holds state version ${fromVersion} but the query declares version ` +
        `${op.version}; state versions cannot go down. Deploy the query with version ${fromVersion} or newer, or use a new checkpoint location`,
    ])
  }
  const steps = migrationPath(op.migrations, fromVersion, op.version)
  if (steps === undefined) {
    const have = op.migrations.map((m) => `${m.from}→${m.to}`).join(', ') || 'none'
    throw new IncompatibleCheckpointError(location, [
      `operator '${op.name}': state version rose from ${fromVersion} to ${op.version} but no chain of migrations ` +
        `leads from ${fromVersion} to ${op.version} (migrations given: ${have}). Add the missing step(s) ` +
        `{ from, to, codec, migrate }, or use a new checkpoint location`,
    ])
  }
  return steps
}
