import { IncompatibleCheckpointError } from '../errors.js'
import type { CompiledPlan } from './compile.js'
import type { PlanFingerprint } from './fingerprint.js'

/**
 * Checks a query against the fingerprint its checkpoint recorded (SPEC §5) and lists every difference the state
 * cannot survive.
 * @throws IncompatibleCheckpointError with one reason per difference.
 */
export function checkCompatibility(location: string, before: PlanFingerprint, after: PlanFingerprint, _plan: CompiledPlan): void {
  const reasons: string[] = []
  if (before.sources.length !== after.sources.length) {
    reasons.push(`the query reads ${after.sources.length} source(s), the checkpoint ${before.sources.length}`)
  }
  before.sources.forEach((b, i) => {
    const a = after.sources[i]
    if (a !== undefined && a.kind !== b.kind) reasons.push(`source ${i}: kind changed from '${b.kind}' to '${a.kind}'`)
  })
  if (reasons.length > 0) throw new IncompatibleCheckpointError(location, reasons)
}
