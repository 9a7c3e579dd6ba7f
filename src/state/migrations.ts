import { IncompatibleCheckpointError } from '../errors.js'
import { checkMigration } from '../plan/migrations.js'
import type { ErasedCodec, ErasedMigration } from '../plan/nodes.js'
import type { OperatorSpec } from '../plan/plan.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'
import { errorText } from '../util/text.js'
import { type StateDecoder, StateDecodeFailure } from './stateFiles.js'

/**
 * Runs a migration chain on one encoded old state: decode with the first step's codec, migrate step by step, and
 * check the result against the current state codec.
 */
export function migrateEncoded(
  steps: readonly ErasedMigration[],
  current: ErasedCodec,
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
      return { ok: false, reason: `migration ${step.from}→${step.to} threw: ${errorText(e)}` }
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
export function stateDecoders(op: Pick<OperatorSpec, 'name' | 'version' | 'migrations' | 'stateCodec'>, location: string): (stateVersion: number, path: string) => StateDecoder {
  const codec = op.stateCodec
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
