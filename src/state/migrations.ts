import { IncompatibleCheckpointError } from '../errors.js'
import type { StatefulExec } from '../exec/batch.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string }

/**
 * How to decode an operator's persisted state written at `fromVersion`: with its own codec when the version is
 * unchanged, otherwise through its chain of migrations.
 * @throws IncompatibleCheckpointError when the version went down or a migration step is missing.
 */
export function stateDecoderFor(op: StatefulExec, fromVersion: number, location: string): (encoded: unknown) => Decoded {
  const codec = op.store.stateCodec
  if (fromVersion === op.version) {
    return (encoded) => {
      const r = codec.decode(encoded)
      if (r._tag === 'Right') return { ok: true, value: r.right }
      const { path, message } = describeIoTsErrors(r.left)
      return { ok: false, reason: `${path ? `${path}: ` : ''}${message} (state codec ${codec.name}, version ${op.version})` }
    }
  }
  throw new IncompatibleCheckpointError(location, [
    `operator '${op.name}': state version changed from ${fromVersion} to ${op.version}; migrations are not supported yet`,
  ])
}
