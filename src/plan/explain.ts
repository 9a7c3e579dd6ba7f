import type { Plan } from './plan.js'

/**
 * The incremental plan as an indented tree, sink at the top and source at the bottom, like Spark's `explain()`.
 * @example explainPlan(compilePlan(nodes, 'complete'), 'MemorySource', 'MemorySink', 8)
 * @throws never.
 */
export function explainPlan(plan: Plan, source: string, sink: string, partitions: number): string {
  const lines = [`WriteToSink ${sink} [outputMode=${plan.outputMode}]`]
  for (const step of [...plan.stages].reverse()) {
    switch (step.kind) {
      case 'stateless':
        lines.push(`FusedStateless [${step.labels.join(' → ')}] (one pass per batch)`)
        break
      case 'watermark':
        lines.push(`EventTimeWatermark [${step.label}, delay=${step.delayMs} ms]`)
        break
      case 'stateful':
        lines.push(`${step.operator.description} [state ${step.operator.stateCodec.name}, partitions=${partitions}]`)
        break
    }
  }
  lines.push(`StreamingSource ${source}`)
  return ['== Incremental Plan ==', ...lines.map((l, i) => (i === 0 ? l : `${'   '.repeat(i - 1)}+- ${l}`))].join('\n')
}
