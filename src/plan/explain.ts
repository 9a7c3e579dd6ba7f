import type { CompiledPlan } from './compile.js'

/** The incremental plan as an indented tree, sink at the top and source at the bottom, like Spark's `explain()`. */
export function explainPlan(plan: CompiledPlan, source: string, sink: string, partitions: number): string {
  const lines = [`WriteToSink ${sink} [outputMode=${plan.outputMode}]`]
  for (const step of [...plan.steps].reverse()) {
    switch (step.kind) {
      case 'stateless':
        lines.push(`FusedStateless [${step.labels.join(' → ')}] (one pass per batch)`)
        break
      case 'watermark':
        lines.push(`EventTimeWatermark [${step.label}, delay=${step.delayMs} ms]`)
        break
      case 'stateful':
        lines.push(`${step.description} [state ${step.exec.store.stateCodec.name}, partitions=${partitions}]`)
        break
    }
  }
  lines.push(`StreamingSource ${source}`)
  return ['== Incremental Plan ==', ...lines.map((l, i) => (i === 0 ? l : `${'   '.repeat(i - 1)}+- ${l}`))].join('\n')
}
