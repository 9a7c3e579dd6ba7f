/**
 * Starting a query that `repartition` splits in two: part one reads the source and writes every row into its key's
 * partition of `via`; part two reads `via` back as a PartitionedSource and runs the rest of the chain as tasks.
 */
import { checkpointLayout } from '../checkpoint/layout.js'
import { checkRunsAs, tasksMetadata } from '../checkpoint/tasksMetadata.js'
import { IncompatibleCheckpointError, InvalidQueryError } from '../errors.js'
import type { PlanNode, RepartitionNode } from '../plan/nodes.js'
import { isPartitioned, type PartitionedSource } from '../sources/partitioned.js'
import type { Source } from '../sources/source.js'
import type { QueryDefinition, SessionContext } from './queryRun.js'
import { type RepartitionVia, viaOf } from './repartitionVia.js'
import { RepartitionedQuery } from './repartitionedQuery.js'
import { startQuery } from './startQuery.js'
import type { StreamingQuery } from './streamingQuery.js'
import { checkCluster, joinCluster } from './cluster.js'
import { describeTask, partitionedWork, partitionTasks, singleTask } from './clusterWork.js'
import { checkParallelism, type Scaling, startScaledOut } from './scaleOut.js'
import { checkPartitioning, type PartitionedQueryDefinition, startTasks } from './tasks.js'
import type { WorkerSessionOptions } from './workerProtocol.js'

/** A query as `writeStream` describes it, over a source of either kind. */
export interface AnyQueryDefinition extends Omit<QueryDefinition, 'source' | 'task'> {
  readonly source: Source<unknown> | PartitionedSource<unknown>
}

/** Where a chain is split: the nodes before `repartition`, the node, and the nodes after it. */
export interface RepartitionSplit {
  readonly before: readonly PlanNode[]
  readonly node: RepartitionNode
  readonly after: readonly PlanNode[]
  /** How the node is named in errors, e.g. `repartition #2`. */
  readonly label: string
}

/**
 * Splits a chain at its `repartition`, or returns undefined when it has none.
 * @example const split = splitAtRepartition(stream.planNodes) // { before: [filter], node, after: [groupBy, count] }
 * @throws InvalidQueryError when `repartition` appears twice, or an operator other than map, filter or flatMap comes
 * before it (part one only writes rows; a watermark or state belongs to the part that runs as tasks).
 */
export function splitAtRepartition(nodes: readonly PlanNode[]): RepartitionSplit | undefined {
  const at = nodes.flatMap((n, i) => (n.kind === 'repartition' ? [i] : []))
  if (at.length === 0) return undefined
  const i = at[0]!
  const label = `repartition #${i + 1}`
  if (at.length > 1) {
    throw new InvalidQueryError(
      `repartition #${at[1]! + 1}: a query repartitions at most once (the first is ${label}); to partition by a second ` +
        'key, write the first query\'s result to a partitioned stream and read it in a second query',
    )
  }
  nodes.slice(0, i).forEach((n, j) => {
    if (n.kind !== 'map' && n.kind !== 'filter' && n.kind !== 'flatMap') {
      throw new InvalidQueryError(
        `${n.kind} #${j + 1} comes before ${label}: only map, filter and flatMap may (the part before repartition ` +
          'only writes rows into its partitions); move it after repartition, where the query runs as tasks',
      )
    }
  })
  return { before: nodes.slice(0, i), node: nodes[i] as RepartitionNode, after: nodes.slice(i + 1), label }
}

/**
 * Starts both parts of a repartitioned query: part one (`<checkpoint>/repartition`) writes the source's rows into
 * `via` by key, part two (`<checkpoint>/tasks/<p>`) runs the rest as one task per partition of `via`, on this thread
 * or on `parallelism` worker threads (a worker, given its tasks in `scaling`, runs only its share of part two). With
 * trigger once or availableNow, part two starts once part one has finished, so it sees every row part one wrote.
 * In a cluster, part one is one more leased task (one per input partition over a partitioned source) beside part
 * two's, fenced like them, so exactly one member runs it and a member that takes it over resumes from its checkpoint.
 * @example const query = await startRepartitioned(context, { source, nodes, outputMode: 'update', sink, checkpointLocation }, split, session.scaling, session.options)
 * @throws InvalidQueryError when `via` is not a partitioned stream or without a checkpoint location; the errors of
 * checkParallelism or checkCluster; every error of starting either part (checkpoint, plan, partitioning).
 */
export async function startRepartitioned(
  session: SessionContext,
  def: AnyQueryDefinition,
  split: RepartitionSplit,
  scaling: Scaling,
  options: WorkerSessionOptions & { readonly fs?: unknown },
): Promise<StreamingQuery> {
  const via = checkedVia(split)
  const { label } = split
  if (def.checkpointLocation === undefined) {
    throw new InvalidQueryError(
      `${label} needs a checkpointLocation: the rows it writes stay in ${via.description}, and only the checkpoint ` +
        'tells a restart which rows part one already wrote and part two already read',
    )
  }
  if (def.cluster !== undefined) checkCluster(def, def.cluster)
  else checkParallelism(def, scaling, options)
  const partTwo: PartitionedQueryDefinition = { ...def, source: via.source(), nodes: split.after }
  checkPartitioning(partTwo)
  // A worker thread runs its share of part two's tasks; part one runs on the thread that started the query.
  if (scaling.tasks !== undefined) return startScaledOut(session, partTwo, scaling, options)
  const layout = checkpointLayout(def.checkpointLocation)
  await checkRunsAs(session.fs, def.checkpointLocation, 'tasks')
  if ((await session.fs.exists(layout.task(0))) && !(await session.fs.exists(layout.repartition))) {
    throw new IncompatibleCheckpointError(def.checkpointLocation, [
      `the checkpoint was written by tasks without ${label}: their positions are in another source than ` +
        `${via.description}; start the repartitioned query on a new checkpoint location`,
    ])
  }
  const { id } = await tasksMetadata(session.fs, def.checkpointLocation, via.partitions)
  const partOne: AnyQueryDefinition = {
    source: def.source,
    nodes: split.before,
    outputMode: 'append',
    sink: via.sink([split.node.keyOf as (row: unknown) => unknown, split.node.keyCodec]),
    queryName: def.queryName === undefined ? undefined : `${def.queryName}[repartition]`,
    trigger: def.trigger,
    checkpointLocation: layout.repartition,
  }
  if (def.cluster !== undefined) {
    const partOneTasks = isPartitioned(partOne.source)
      ? partitionTasks({ ...partOne, source: partOne.source }, 'repartition')
      : [singleTask('repartition', { ...partOne, source: partOne.source })]
    // Part one's tasks carry no check of their own: a switch between one source and a partitioned one is refused here.
    await checkRunsAs(session.fs, layout.repartition, isPartitioned(partOne.source) ? 'tasks' : 'one query')
    if (isPartitioned(partOne.source)) await tasksMetadata(session.fs, layout.repartition, partOne.source.partitioning.partitions)
    return joinCluster(session, def.cluster, {
      ...partitionedWork(partTwo, def.checkpointLocation, session.shufflePartitions),
      tasks: [...partitionTasks(partTwo), ...partOneTasks],
      describe: () => `part one (${partOneTasks.map((task) => task.name).join(', ')}) writes every row into its key's partition of ${via.description}; part two, each task:\n${describeTask(partTwo, session.shufflePartitions)}`,
    })
  }
  const query = new RepartitionedQuery(id, def.queryName, def.trigger, via.description, via.partitions, session)
  await query.start(
    (context) => (isPartitioned(partOne.source) ? startTasks(context, { ...partOne, source: partOne.source }) : startQuery(context, { ...partOne, source: partOne.source })),
    (context) => startScaledOut(context, partTwo, scaling, options),
  )
  return query
}

function checkedVia(split: RepartitionSplit): RepartitionVia<unknown> {
  const via = viaOf(split.node.via)
  if (via === undefined) {
    throw new InvalidQueryError(
      `${split.label}: via must be a partitioned stream to write the rows into by key and read them back, built with ` +
        `jetStreamPartitions({ …, partitions }) or redisStreamPartitions({ …, partitions }) of this copy of structured-rx, ` +
        `in this process or worker (a stream is found by the name it was built with); got ${split.node.via.description}`,
    )
  }
  return via
}
