/**
 * What the members of a cluster lease and run: a list of tasks, each an ordinary query over the shared checkpoint.
 * A query over a partitioned source is its P tasks; a repartitioned query adds the part that writes rows by key
 * (one task over an unpartitioned source, one per input partition otherwise), leased like any other task.
 */
import { compilePlan } from '../plan/compile.js'
import { explainPlan } from '../plan/explain.js'
import { taskKey } from './clusterView.js'
import type { QueryDefinition, SessionContext } from './queryRun.js'
import { startQuery } from './startQuery.js'
import type { StreamingQuery } from './streamingQuery.js'
import { type PartitionedQueryDefinition, taskDefinition } from './tasks.js'
import type { Trigger } from './trigger.js'

/**
 * One task a member leases and runs.
 * @example const task: ClusterTask = { name: 'task-3', label: 'task 3', start: (ctx) => startQuery(ctx, taskDefinition(def, 3)) }
 */
export interface ClusterTask {
  /** Its lease's name in the coordinator (before the cluster prefix): `task-<p>`, `repartition`, `repartition-task-<p>`. */
  readonly name: string
  /** How messages name it: `task 3`, `repartition`. */
  readonly label: string
  /** Starts it as a query on `context` (the member's fenced file system and lease lock). */
  start(context: SessionContext): Promise<StreamingQuery>
}

/**
 * The query a cluster runs: its tasks, and how to describe it.
 * @example const work = partitionedWork(def, '/shared/ckpt/counts')
 */
export interface ClusterWork {
  readonly queryName: string | undefined
  readonly trigger: Trigger | undefined
  readonly checkpointLocation: string
  readonly tasks: readonly ClusterTask[]
  /** What the tasks run, for `explain`. */
  describe(): string
}

/**
 * The tasks of a query over a partitioned source: task p reads partition p and checkpoints under `tasks/<p>`.
 * With `part: 'repartition'`, the tasks of the part of a repartitioned query that reads a partitioned source.
 * @example partitionTasks(def) // [{ name: 'task-0', … }, …]
 * @throws never.
 */
export function partitionTasks(def: PartitionedQueryDefinition, part?: 'repartition'): ClusterTask[] {
  return Array.from({ length: def.source.partitioning.partitions }, (_, p) => ({
    name: part === undefined ? taskKey(p) : `repartition-${taskKey(p)}`,
    label: part === undefined ? `task ${p}` : `repartition task ${p}`,
    start: (context: SessionContext) => startQuery(context, taskDefinition(def, p)),
  }))
}

/**
 * A query that runs whole as one leased task (the part of a repartitioned query that reads an unpartitioned source).
 * @example singleTask('repartition', partOne)
 * @throws never.
 */
export function singleTask(name: string, def: QueryDefinition): ClusterTask {
  return { name, label: name, start: (context) => startQuery(context, def) }
}

/**
 * The cluster work of a query over a partitioned source.
 * @example const work = partitionedWork(def, def.checkpointLocation!)
 * @throws InvalidQueryError from compiling the plan.
 */
export function partitionedWork(def: PartitionedQueryDefinition, checkpointLocation: string, shufflePartitions: number): ClusterWork {
  return {
    queryName: def.queryName,
    trigger: def.trigger,
    checkpointLocation,
    tasks: partitionTasks(def),
    describe: () => `each task:\n${describeTask(def, shufflePartitions)}`,
  }
}

/**
 * How one task of a query over a partitioned source runs, as `explain` prints it.
 * @example describeTask(def, 4)
 * @throws InvalidQueryError from compiling the plan.
 */
export function describeTask(def: PartitionedQueryDefinition, shufflePartitions: number): string {
  return explainPlan(compilePlan(def.nodes, def.outputMode), def.source.partition(0).description, def.sink.description, shufflePartitions)
}
