import type { OperatorSpec, Plan } from '../plan/plan.js'
import type { StatefulExec } from './batch.js'
import { fuseStateless } from './stateless.js'
import { AggregateExec } from './stateful/aggregateExec.js'
import { DropDuplicatesExec } from './stateful/dropDuplicatesExec.js'
import { MapGroupsWithStateExec } from './stateful/mapGroupsWithStateExec.js'

/** One step of a running plan, run in order on each micro-batch. */
export type Step =
  | { readonly kind: 'stateless'; readonly run: (rows: unknown[]) => unknown[] }
  | { readonly kind: 'watermark'; readonly label: string; readonly timeOf: (row: unknown) => unknown }
  | { readonly kind: 'stateful'; readonly exec: StatefulExec }

/** A plan made runnable: fused stateless loops and stateful executors with their (empty) state stores. */
export interface Executable {
  readonly plan: Plan
  readonly steps: readonly Step[]
  /** The stateful executors, in plan order. */
  readonly operators: readonly StatefulExec[]
}

/**
 * Builds the executors and state stores of a plan for `partitions` shuffle partitions: called once per start,
 * after the checkpoint has decided the partition count.
 * @example const { steps, operators } = instantiate(compilePlan(nodes, 'update'), 8)
 * @throws never for a plan `compilePlan` returned.
 */
export function instantiate(plan: Plan, partitions: number, patchDeltas = true): Executable {
  const operators: StatefulExec[] = []
  const steps = plan.stages.map((stage): Step => {
    switch (stage.kind) {
      case 'stateless':
        return { kind: 'stateless', run: fuseStateless(stage.nodes.map((node, i) => ({ node, label: stage.labels[i]! }))) }
      case 'watermark':
        return { kind: 'watermark', label: stage.label, timeOf: stage.timeOf }
      case 'stateful': {
        const exec = executorOf(stage.operator, partitions, patchDeltas)
        operators.push(exec)
        return { kind: 'stateful', exec }
      }
    }
  })
  return { plan, steps, operators }
}

function executorOf(spec: OperatorSpec, partitions: number, patchDeltas: boolean): StatefulExec {
  switch (spec.kind) {
    case 'aggregate':
      return new AggregateExec(spec, partitions, patchDeltas)
    case 'mapGroupsWithState':
      return new MapGroupsWithStateExec(spec, partitions, patchDeltas)
    case 'dropDuplicates':
    case 'dropDuplicatesWithinWatermark':
      return new DropDuplicatesExec(spec, partitions)
  }
}
