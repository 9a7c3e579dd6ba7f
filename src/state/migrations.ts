import { IncompatibleCheckpointError } from '../errors.js'
import type { StatefulExec } from '../exec/batch.js'
import type { ErasedMigration } from '../plan/nodes.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'
import { type StateDecoder, StateDecodeFailure } from './stateFiles.js'

/**
 * The migration steps that carry state from version `from` to version `to`: the shortest chain of the given steps
 * (a direct step wins over a chain of smaller ones, which the migration laws require to agree).
 * @returns the steps in order, [] when `from === to`, undefined when no chain exists.
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
 * Runs a migration chain on one encoded old state: decode with the first step's codec, migrate step by step, and
 * check the result against the current state codec.
 */
export function migrateEncoded(
  steps: readonly ErasedMigration[],
  current: StatefulExec['store']['stateCodec'],
  encoded: unknown,
): { ok: true; value: unknown } | { ok: false; reason: string } {
  const first = steps[0]!
  const decoded = first.codec.decode(encoded)
  if (decoded._tag === 'Left') {
    const { path, message } = describeIoTsErrors(decoded.left)
    return { ok: false, reason: `does not decode as version ${first.from} (${first.codec.name})${path ? ` at ${path}` : ''}: ${message}` }
  }
  let value: unknown = decoded.right
  for (const step of steps) {
    try {
      value = step.migrate(value as never)
    } catch (e) {
      return { ok: false, reason: `migration ${step.from}→${step.to} threw: ${e instanceof Error ? e.message : String(e)}` }
    }
  }
  if (!current.is(value)) {
    return { ok: false, reason: `migrated value ${JSON.stringify(value)} does not match the current state codec ${current.name}` }
  }
  return { ok: true, value }
}

/**
 * Decoders of an operator's persisted state by the state version a file was written at: the operator's own codec for
 * its current version, a migration chain for older versions.
 * @throws IncompatibleCheckpointError naming the operator and versions when a version is newer than the query's
 * (state versions never go down) or no chain of migrations reaches the current version; also thrown by the decoder
 * when old state does not decode or migrate.
 */
export function stateDecoders(op: StatefulExec, location: string): (stateVersion: number, path: string) => StateDecoder {
  const codec = op.store.stateCodec
  const current: StateDecoder = (encoded) => {
    if (codec.is(encoded)) return encoded
    const r = codec.decode(encoded)
    if (r._tag === 'Right') return r.right
    const { path, message } = describeIoTsErrors(r.left)
    return new StateDecodeFailure(`${path ? `${path}: ` : ''}${message} (state codec ${codec.name}, version ${op.version})`)
  }
  const cache = new Map<number, StateDecoder>([[op.version, current]])
  return (stateVersion, path) => {
    const known = cache.get(stateVersion)
    if (known !== undefined) return known
    const steps = checkMigration(op, stateVersion, location)
    const decoder: StateDecoder = (encoded) => {
      const r = migrateEncoded(steps, codec, encoded)
      if (r.ok) return r.value
      throw new IncompatibleCheckpointError(location, [
        `operator '${op.name}': state written at version ${stateVersion} in ${path} cannot be migrated to version ` +
          `${op.version}: ${r.reason}. Fix the migration, or start from a new checkpoint location`,
      ])
    }
    cache.set(stateVersion, decoder)
    return decoder
  }
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
