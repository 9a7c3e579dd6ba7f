import * as t from 'io-ts'
import { InvalidQueryError } from '../errors.js'
import type { AggregateNode, ErasedCodec, GroupByNode, MapGroupsWithStateNode, PlanNode, StatelessNode } from './nodes.js'
import type { AggregateOperatorSpec, MapGroupsWithStateOperatorSpec, OperatorSpec, OutputMode, Plan, Stage } from './plan.js'

const NAME = /^[A-Za-z0-9_.-]{1,100}$/

/**
 * Compiles a pipe of plan nodes into the incremental plan: fuses stateless runs, pairs each `groupBy` with the
 * aggregation or mapGroupsWithState after it, and checks the output mode against Spark's rules.
 * @throws InvalidQueryError naming the operator and the mode when the combination is not a valid streaming query.
 */
export function compilePlan(nodes: readonly PlanNode[], outputMode: OutputMode): Plan {
  if (!['append', 'update', 'complete'].includes(outputMode)) {
    throw new InvalidQueryError(`outputMode must be 'append', 'update' or 'complete', got ${JSON.stringify(outputMode)}`)
  }
  const stages: Stage[] = []
  const operators: OperatorSpec[] = []
  let pending: { node: StatelessNode; label: string }[] = []
  let watermark: Plan['watermark']
  const names = new Set<string>()
  const flush = () => {
    if (pending.length === 0) return
    stages.push({ kind: 'stateless', labels: pending.map((p) => p.label), nodes: pending.map((p) => p.node) })
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
        if (operators.length > 0) {
          throw new InvalidQueryError(`${label}: withWatermark must come before the stateful operators it governs`)
        }
        flush()
        watermark = { delayMs: node.delayMs, label }
        stages.push({ kind: 'watermark', label, timeOf: node.timeOf as (row: unknown) => unknown, delayMs: node.delayMs })
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
        const at = { label: `${next.kind} #${i + 2}`, groupByLabel: label }
        const operator =
          next.kind === 'aggregate'
            ? aggregateSpec(name, at, next, node, watermark !== undefined && node.window !== undefined && outputMode !== 'complete')
            : mapGroupsSpec(name, at, next, node, watermark !== undefined)
        operators.push(operator)
        stages.push({ kind: 'stateful', operator })
        i++
        break
      }
      case 'repartition':
        throw new InvalidQueryError(
          `${label}: repartition splits a query in two where it stands and is not part of a compiled plan; start the ` +
            'query with writeStream(...).start() to run both parts',
        )
      case 'aggregate':
      case 'mapGroupsWithState':
        throw new InvalidQueryError(`${label}: ${node.kind} '${node.name}' needs a groupBy(keyOf, keyCodec) right before it`)
      case 'dropDuplicates': {
        if (node.within !== undefined && watermark === undefined) {
          throw new InvalidQueryError(`${label}: dropDuplicates with 'within' needs a withWatermark before it`)
        }
        flush()
        const name = uniqueName(node.name, label)
        const operator: OperatorSpec = {
          kind: node.within === undefined ? 'dropDuplicates' : 'dropDuplicatesWithinWatermark',
          name,
          label,
          node,
          keyCodec: node.keyCodec,
          stateCodec: t.number,
          version: node.version,
          migrations: [],
          window: undefined,
          timeout: 'none',
          description: `DropDuplicates ${name}${node.within ? ' within watermark' : ''}`,
        }
        operators.push(operator)
        stages.push({ kind: 'stateful', operator })
        break
      }
    }
  }
  flush()
  checkOutputMode(operators, outputMode, watermark !== undefined)
  return { stages, operators, watermark, outputMode }
}

/** Where a grouped operator sits in the pipe: its own label and that of the groupBy before it. */
interface GroupedAt {
  readonly label: string
  readonly groupByLabel: string
}

function aggregateSpec(name: string, at: GroupedAt, node: AggregateNode, groupBy: GroupByNode, evictsByWatermark: boolean): AggregateOperatorSpec {
  return {
    kind: 'aggregate',
    name,
    ...at,
    groupBy,
    node,
    evictsByWatermark,
    keyCodec: groupBy.keyCodec,
    stateCodec: node.aggregator.state as ErasedCodec,
    version: node.version,
    migrations: node.migrations,
    window: groupBy.window === undefined ? undefined : { sizeMs: groupBy.window.sizeMs, slideMs: groupBy.window.slideMs },
    timeout: 'none',
    description: describeGrouped(name, groupBy, node.kind),
  }
}

function mapGroupsSpec(name: string, at: GroupedAt, node: MapGroupsWithStateNode, groupBy: GroupByNode, hasWatermark: boolean): MapGroupsWithStateOperatorSpec {
  if (groupBy.window !== undefined) {
    throw new InvalidQueryError(`mapGroupsWithState '${node.name}': the groupBy before it must not use a window`)
  }
  if (node.timeout === 'eventTime' && !hasWatermark) {
    throw new InvalidQueryError(`mapGroupsWithState '${node.name}': timeout 'eventTime' needs a withWatermark before it`)
  }
  return {
    kind: 'mapGroupsWithState',
    name,
    ...at,
    groupBy,
    node,
    keyCodec: node.keyCodec ?? groupBy.keyCodec,
    stateCodec: node.stateCodec,
    version: node.version,
    migrations: node.migrations,
    window: undefined,
    timeout: node.timeout,
    description: describeGrouped(name, groupBy, node.kind),
  }
}

function describeGrouped(name: string, groupBy: GroupByNode, kind: string): string {
  const w = groupBy.window
  const window = w ? `, window ${w.sizeMs} ms${w.slideMs !== w.sizeMs ? ` sliding ${w.slideMs} ms` : ''}` : ''
  return `${kind === 'aggregate' ? 'StatefulAggregate' : 'MapGroupsWithState'} ${name} [key ${groupBy.keyCodec.name}${window}]`
}

/** Spark's output-mode rules, checked before anything runs. */
function checkOutputMode(operators: readonly OperatorSpec[], mode: OutputMode, hasWatermark: boolean): void {
  const aggregations = operators.filter((s) => s.kind === 'aggregate')
  const last = operators[operators.length - 1]
  for (const s of operators.slice(0, -1)) {
    if (s.kind !== 'dropDuplicates' && s.kind !== 'dropDuplicatesWithinWatermark') {
      throw new InvalidQueryError(
        `${s.label} (${s.name}): only dropDuplicates may come before another stateful operator; ` +
          `${s.kind} must be the last stateful operator of a query`,
      )
    }
  }
  if (mode === 'complete' && aggregations.length === 0) {
    throw new InvalidQueryError(
      `output mode 'complete' needs an aggregation (groupBy followed by count/sum/avg/min/max/agg/aggregate)` +
        (last ? `; ${last.label} (${last.name}) is not one` : '; this query has none'),
    )
  }
  if (last?.kind === 'mapGroupsWithState' && mode !== 'update') {
    throw new InvalidQueryError(`${last.label} (${last.name}): mapGroupsWithState supports output mode 'update' only, not '${mode}'`)
  }
  if (mode === 'append' && last?.kind === 'aggregate') {
    if (!hasWatermark || last.window === undefined) {
      throw new InvalidQueryError(
        `${last.label} (${last.name}): output mode 'append' after an aggregation needs a withWatermark before ` +
          'it and a groupBy window on event time, so each window is emitted once when the watermark passes its end; ' +
          "use 'update' or 'complete' otherwise",
      )
    }
  }
}
