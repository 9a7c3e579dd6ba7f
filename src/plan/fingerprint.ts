import * as t from 'io-ts'
import type { OperatorSpec, Plan } from './plan.js'

/** What a checkpoint records about the query that wrote it, to check a restarted query against. */
export const PlanFingerprint = t.type({
  sources: t.array(t.type({ kind: t.string, identity: t.string })),
  statefulOperators: t.array(
    t.type({
      name: t.string,
      kind: t.string,
      keyCodec: t.string,
      stateCodec: t.string,
      version: t.number,
      timeout: t.string,
      /** `size/slide` in ms of a windowed groupBy, or null. */
      window: t.union([t.string, t.null]),
    }),
  ),
  outputMode: t.string,
  /** The watermark delay, or null without withWatermark. */
  watermarkDelayMs: t.union([t.number, t.null]),
  shufflePartitions: t.number,
  formatVersion: t.number,
})
export type PlanFingerprint = t.TypeOf<typeof PlanFingerprint>
export type OperatorFingerprint = PlanFingerprint['statefulOperators'][number]

/**
 * The fingerprint of a compiled plan: sources, each stateful operator's identity and codecs, mode, partitions.
 * @example fingerprintOf(compilePlan(nodes, 'update'), source, 8, CURRENT_FORMAT_VERSION).statefulOperators[0].name
 * @throws never.
 */
export function fingerprintOf(
  plan: Plan,
  source: { kind: string; identity: string },
  shufflePartitions: number,
  formatVersion: number,
): PlanFingerprint {
  return {
    sources: [{ kind: source.kind, identity: source.identity }],
    statefulOperators: plan.operators.map(operatorFingerprint),
    outputMode: plan.outputMode,
    watermarkDelayMs: plan.watermark?.delayMs ?? null,
    shufflePartitions,
    formatVersion,
  }
}

function operatorFingerprint(op: OperatorSpec): OperatorFingerprint {
  return {
    name: op.name,
    kind: op.kind,
    keyCodec: op.keyCodec.name,
    stateCodec: op.stateCodec.name,
    version: op.version,
    timeout: op.timeout,
    window: op.window === undefined ? null : `${op.window.sizeMs}/${op.window.slideMs}`,
  }
}
