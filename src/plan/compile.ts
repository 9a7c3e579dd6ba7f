import { InvalidQueryError } from '../errors.js'
import type { OutputMode, StatefulExec } from '../exec/batch.js'
import { fuseStateless } from '../exec/stateless.js'
import { AggregateExec } from '../exec/stateful/aggregateExec.js'
import { DropDuplicatesExec } from '../exec/stateful/dropDuplicatesExec.js'
import { Grouping } from '../exec/stateful/grouping.js'
import { MapGroupsWithStateExec } from '../exec/stateful/mapGroupsWithStateExec.js'
import type { GroupByNode, PlanNode, StatelessNode } from './nodes.js'

/** One step of the incremental plan, run in order on each micro-batch. */
export type Step =
  | { readonly kind: 'stateless'; readonly labels: readonly string[]; readonly run: (rows: unknown[]) => unknown[] }
  | { readonly kind: 'watermark'; readonly label: string; readonly timeOf: (row: unknown) => unknown; readonly delayMs: number }
  | { readonly kind: 'stateful'; readonly label: string; readonly exec: StatefulExec; readonly description: string; readonly window: { readonly sizeMs: number; readonly slideMs: number } | undefined }

/** The compiled incremental plan of a query. */
export interface CompiledPlan {
  readonly steps: readonly Step[]
  readonly stateful: readonly StatefulExec[]
  readonly watermark: { readonly delayMs: number; readonly label: string } | undefined
  readonly outputMode: OutputMode
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/

/**
 * Compiles a pipe of plan nodes into the incremental plan: fuses stateless runs, pairs each `groupBy` with the
 * aggregation or mapGroupsWithState after it, and checks the output mode against Spark's rules.
 * @throws InvalidQueryError naming the operator and the mode when the combination is not a valid streaming query.
 */
export function compilePlan(nodes: readonly PlanNode[], outputMode: OutputMode, partitions: number): CompiledPlan {
  if (!['append', 'update', 'complete'].includes(outputMode)) {
    throw new InvalidQueryError(`outputMode must be 'append', 'update' or 'complete', got ${JSON.stringify(outputMode)}`)
  }
  const steps: Step[] = []
  const stateful: StatefulExec[] = []
  let pending: { node: StatelessNode; label: string }[] = []
  let watermark: CompiledPlan['watermark']
  const names = new Set<string>()
  const flush = () => {
    if (pending.length === 0) return
    steps.push({ kind: 'stateless', labels: pending.map((p) => p.label), run: fuseStateless(pending) })
    pending = []
  }
  const uniqueName = (name: string, label: string) => {
    if (!NAME.test(name)) {
      throw new InvalidQueryError(`${label}: name '${name}' must be 1–100 letters, digits, '_', '.' or '-' (it names the state directory)`)
    }
    let unique = name
    for (let n = 2; names.has(unique); n++) unique = `${name}-${n}`
    names.add(unique)
    return unique
  }

  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!
    const label = `${node.kind} #${i + 1}`
    switch (node.kind) {
      case 'map':
      case 'filter':
      case 'flatMap':
        pending.push({ node, label })
        break
      case 'withWatermark':
        if (watermark !== undefined) {
          throw new InvalidQueryError(`${label}: a query has at most one withWatermark (the first is ${watermark.label})`)
        }
        if (stateful.length > 0) {
          throw new InvalidQueryError(`${label}: withWatermark must come before the stateful operators it governs`)
        }
        flush()
        watermark = { delayMs: node.delayMs, label }
        steps.push({ kind: 'watermark', label, timeOf: node.timeOf as (row: unknown) => unknown, delayMs: node.delayMs })
        break
      case 'groupBy': {
        const next = nodes[i + 1]
        if (next?.kind !== 'aggregate' && next?.kind !== 'mapGroupsWithState') {
          throw new InvalidQueryError(
            `${label}: groupBy must be followed by an aggregation (count, sum, avg, min, max, agg, aggregate) or ` +
              `mapGroupsWithState, got ${next ? next.kind : 'the end of the pipe'}`,
          )
        }
        flush()
        const name = uniqueName(next.name, `${next.kind} #${i + 2}`)
        const exec =
          next.kind === 'aggregate'
            ? new AggregateExec(name, next, new Grouping(node, label), partitions,
                watermark !== undefined && node.window !== undefined && outputMode !== 'complete')
            : mapGroupsExec(name, next, node, label, partitions, watermark !== undefined)
        stateful.push(exec)
        steps.push({
          kind: 'stateful',
          label: `${next.kind} #${i + 2}`,
          exec,
          description: describeGrouped(name, node, next.kind),
          window: node.window,
        })
        i++
        break
      }
      case 'aggregate':
      case 'mapGroupsWithState':
        throw new InvalidQueryError(`${label}: ${node.kind} '${node.name}' needs a groupBy(keyOf, keyCodec) right before it`)
      case 'dropDuplicates': {
        if (node.within !== undefined && watermark === undefined) {
          throw new InvalidQueryError(`${label}: dropDuplicates with 'within' needs a withWatermark before it`)
        }
        flush()
        const exec = new DropDuplicatesExec(uniqueName(node.name, label), node, partitions)
        stateful.push(exec)
        steps.push({
          kind: 'stateful',
          label,
          exec,
          description: `DropDuplicates ${exec.name}${node.within ? ' within watermark' : ''}`,
          window: undefined,
        })
        break
      }
    }
  }
  flush()
  checkOutputMode(steps, outputMode, watermark !== undefined)
  return { steps, stateful, watermark, outputMode }
}

function mapGroupsExec(
  name: string,
  node: Extract<PlanNode, { kind: 'mapGroupsWithState' }>,
  groupBy: GroupByNode,
  label: string,
  partitions: number,
  hasWatermark: boolean,
): MapGroupsWithStateExec {
  if (groupBy.window !== undefined) {
    throw new InvalidQueryError(`mapGroupsWithState '${node.name}': the groupBy before it must not use a window`)
  }
  if (node.timeout === 'eventTime' && !hasWatermark) {
    throw new InvalidQueryError(`mapGroupsWithState '${node.name}': timeout 'eventTime' needs a withWatermark before it`)
  }
  return new MapGroupsWithStateExec(name, node, new Grouping(groupBy, label, node.keyCodec ?? groupBy.keyCodec), partitions)
}

function describeGrouped(name: string, groupBy: GroupByNode, kind: string): string {
  const w = groupBy.window
  const window = w ? `, window ${w.sizeMs} ms${w.slideMs !== w.sizeMs ? ` sliding ${w.slideMs} ms` : ''}` : ''
  return `${kind === 'aggregate' ? 'StatefulAggregate' : 'MapGroupsWithState'} ${name} [key ${groupBy.keyCodec.name}${window}]`
}

/** Spark's output-mode rules, checked before anything runs. */
function checkOutputMode(steps: readonly Step[], mode: OutputMode, hasWatermark: boolean): void {
  const stateful = steps.flatMap((s) => (s.kind === 'stateful' ? [s] : []))
  const aggregations = stateful.filter((s) => s.exec.kind === 'aggregate')
  const last = stateful[stateful.length - 1]
  for (const s of stateful.slice(0, -1)) {
    if (s.exec.kind !== 'dropDuplicates' && s.exec.kind !== 'dropDuplicatesWithinWatermark') {
      throw new InvalidQueryError(
        `${s.label} (${s.exec.name}): only dropDuplicates may come before another stateful operator; ` +
          `${s.exec.kind} must be the last stateful operator of a query`,
      )
    }
  }
  if (mode === 'complete' && aggregations.length === 0) {
    throw new InvalidQueryError(
      `output mode 'complete' needs an aggregation (groupBy followed by count/sum/avg/min/max/agg/aggregate)` +
        (last ? `; ${last.label} (${last.exec.name}) is not one` : '; this query has none'),
    )
  }
  if (last?.exec.kind === 'mapGroupsWithState' && mode !== 'update') {
    throw new InvalidQueryError(`${last.label} (${last.exec.name}): mapGroupsWithState supports output mode 'update' only, not '${mode}'`)
  }
  if (mode === 'append' && last?.exec.kind === 'aggregate') {
    if (!hasWatermark || last.window === undefined) {
      throw new InvalidQueryError(
        `${last.label} (${last.exec.name}): output mode 'append' after an aggregation needs a withWatermark before ` +
          'it and a groupBy window on event time, so each window is emitted once when the watermark passes its end; ' +
          "use 'update' or 'complete' otherwise",
      )
    }
  }
}
