import * as t from 'io-ts'
import type { StatefulExec } from '../exec/batch.js'
import type { CompiledPlan } from './compile.js'

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

/** The fingerprint of a compiled plan: sources, each stateful operator's identity and codecs, mode, partitions. */
export function fingerprintOf(
  plan: CompiledPlan,
  source: { kind: string; identity: string },
  shufflePartitions: number,
  formatVersion: number,
): PlanFingerprint {
  return {
    sources: [{ kind: source.kind, identity: source.identity }],
    statefulOperators: plan.steps.flatMap((s) => (s.kind === 'stateful' ? [operatorFingerprint(s.exec, s.window)] : [])),
    outputMode: plan.outputMode,
    watermarkDelayMs: plan.watermark?.delayMs ?? null,
    shufflePartitions,
    formatVersion,
  }
}

function operatorFingerprint(exec: StatefulExec, window: { sizeMs: number; slideMs: number } | undefined): OperatorFingerprint {
  return {
    name: exec.name,
    kind: exec.kind,
    keyCodec: exec.store.keyCodec.name,
    stateCodec: exec.store.stateCodec.name,
    version: exec.version,
    timeout: exec.timeout,
    window: window === undefined ? null : `${window.sizeMs}/${window.slideMs}`,
  }
}
