import { IncompatibleCheckpointError } from '../errors.js'
import type { OperatorFingerprint, PlanFingerprint } from './fingerprint.js'
import { checkMigration } from './migrations.js'
import type { Plan } from './plan.js'

const NEW_LOCATION = 'start the changed query on a new checkpoint location'

/**
 * Checks a query against the fingerprint its checkpoint recorded , before any batch runs. Stateless
 * changes, triggers, rate limits and sink options are free; what the recorded state or offsets cannot survive is
 * listed, one reason per difference, each saying what changed and what to do.
 * @throws IncompatibleCheckpointError with every reason found.
 */
export function checkCompatibility(location: string, before: PlanFingerprint, after: PlanFingerprint, plan: Plan): void {
  const reasons: string[] = []
  if (before.sources.length !== after.sources.length) {
    reasons.push(`the checkpoint was written by a query with ${before.sources.length} source(s), this query has ${after.sources.length}; ${NEW_LOCATION}`)
  }
  before.sources.forEach((b, i) => {
    const a = after.sources[i]
    if (a === undefined) return
    if (a.kind !== b.kind) {
      reasons.push(`source ${i}: kind changed from '${b.kind}' to '${a.kind}'; its offsets mean nothing to the new source; ${NEW_LOCATION}`)
    } else if (a.identity !== b.identity && b.kind === 'jsonFiles') {
      reasons.push(`source ${i}: directory changed from '${b.identity}' to '${a.identity}'; the files already read are logged for the old one; ${NEW_LOCATION}`)
    }
  })
  reasons.push(...operatorReasons(before.statefulOperators, after.statefulOperators, location, plan))
  reasons.push(...outputModeReasons(before, after))
  if (reasons.length > 0) throw new IncompatibleCheckpointError(location, reasons)
}

function describe(op: OperatorFingerprint): string {
  return `'${op.name}' (${op.kind}, key ${op.keyCodec}${op.window ? `, window ${op.window} ms` : ''})`
}

function operatorReasons(before: readonly OperatorFingerprint[], after: readonly OperatorFingerprint[], location: string, plan: Plan): string[] {
  const same = (x: OperatorFingerprint, y: OperatorFingerprint) => x.name === y.name && x.kind === y.kind
  if (before.length !== after.length) {
    // Names are unique within a plan, so an operator added or removed is one whose name and kind the other side lacks.
    const removed = before.flatMap((b, i) =>
      after.some((a) => same(a, b)) ? [] : [`stateful operator ${i + 1} ${describe(b)} was removed; its state would be dropped silently; ${NEW_LOCATION}`],
    )
    const added = after.flatMap((a, i) =>
      before.some((b) => same(a, b)) ? [] : [`stateful operator ${i + 1} ${describe(a)} was added; the checkpoint has no state for it; ${NEW_LOCATION}`],
    )
    return [...removed, ...added]
  }
  const reasons: string[] = []
  for (let i = 0; i < before.length; i++) {
    const b = before[i]!
    const a = after[i]!
    const at = `stateful operator ${i + 1}`
    const movedTo = after.findIndex((x) => x.name === b.name && x.kind === b.kind)
    if (a.name !== b.name || a.kind !== b.kind) {
      reasons.push(
        movedTo >= 0 && movedTo !== i
          ? `${at}: operators were reordered: ${describe(b)} is now operator ${movedTo + 1}; state is matched by position; restore the order or ${NEW_LOCATION}`
          : `${at}: was ${describe(b)}, now ${describe(a)}; another operator cannot read this state; ${NEW_LOCATION}`,
      )
      continue
    }
    if (a.keyCodec !== b.keyCodec) {
      reasons.push(`${at} '${a.name}': key codec changed from ${b.keyCodec} to ${a.keyCodec}; keys cannot evolve (they decide partitions and identity); ${NEW_LOCATION}`)
    }
    if (a.window !== b.window) {
      reasons.push(`${at} '${a.name}': window changed from ${b.window ?? 'none'} to ${a.window ?? 'none'} (size/slide ms); windows are part of the key; ${NEW_LOCATION}`)
    }
    if (a.timeout !== b.timeout && a.timeout !== 'none' && b.timeout !== 'none') {
      reasons.push(`${at} '${a.name}': timeout changed from ${b.timeout} to ${a.timeout}; stored timeouts are on the old clock; ${NEW_LOCATION}`)
    }
    if (a.version === b.version && a.stateCodec !== b.stateCodec) {
      reasons.push(
        `${at} '${a.name}': state codec changed from ${b.stateCodec} to ${a.stateCodec} but version stayed ${a.version}; ` +
          `raise the version to ${a.version + 1} and add a migration { from: ${a.version}, to: ${a.version + 1}, codec, migrate }`,
      )
    } else if (a.version !== b.version) {
      const spec = plan.operators[i]
      try {
        if (spec !== undefined) checkMigration(spec, b.version, location)
      } catch (e) {
        reasons.push(...((e as { reasons?: string[] }).reasons ?? [String(e)]))
      }
    }
  }
  return reasons
}

function outputModeReasons(before: PlanFingerprint, after: PlanFingerprint): string[] {
  if (before.outputMode === after.outputMode || after.outputMode !== 'complete' || before.watermarkDelayMs === null) return []
  const evicted = before.statefulOperators.find((op) => op.kind === 'aggregate' && op.window !== null)
  if (evicted === undefined) return []
  return [
    `output mode changed from '${before.outputMode}' to 'complete', but operator '${evicted.name}' evicted windows ` +
      `behind the watermark in '${before.outputMode}' mode, so its state cannot serve the whole result table; ` +
      `keep '${before.outputMode}' or ${NEW_LOCATION}`,
  ]
}
