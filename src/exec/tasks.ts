import { randomUUID } from 'node:crypto'
import { checkpointLayout } from '../checkpoint/layout.js'
import { checkRunsAs, tasksMetadata } from '../checkpoint/tasksMetadata.js'
import { PartitioningMismatchError } from '../errors.js'
import { compilePlan } from '../plan/compile.js'
import type { PartitionedSource } from '../sources/partitioned.js'
import type { QueryDefinition, SessionContext } from './queryRun.js'
import { startQuery } from './startQuery.js'
import type { StreamingQuery } from './streamingQuery.js'
import { TasksQuery } from './tasksQuery.js'

/** A query over a partitioned source, as `writeStream` describes it. */
export interface PartitionedQueryDefinition extends Omit<QueryDefinition, 'source' | 'task'> {
  readonly source: PartitionedSource<unknown>
}

/**
 * Checks that a query over a partitioned source can run as tasks: a query that keeps state by key needs a source
 * partitioned by the engine's stable key hash, so that each task sees every row of its keys.
 * @example checkPartitioning({ source: partitioned, nodes, outputMode: 'update', sink })
 * @throws PartitioningMismatchError saying how to write the source instead; InvalidQueryError for an invalid plan.
 */
export function checkPartitioning(def: PartitionedQueryDefinition): void {
  const { by } = def.source.partitioning
  const plan = compilePlan(def.nodes, def.outputMode)
  if (plan.operators.length > 0 && by !== 'stableKeyHash') {
    throw new PartitioningMismatchError(
      `${def.source.description} is partitioned by '${by}', but the query keeps state by key ` +
        `(${plan.operators.map((op) => op.name).join(', ')}), so no partition holds all rows of a key. Write the ` +
        `source with partitionBy of the grouping key (the engine's stable key hash) and declare it (partitionedBy: ` +
        `'stableKeyHash'), repartition it by the key (repartition(keyOf, keyCodec, { via })), or read it as one ` +
        `source (a jetStream or redisStream without partitionedBy).`,
    )
  }
}

/**
 * Starts a query over a partitioned source as P tasks, one per source partition (or only the tasks in `only`, the
 * share of one worker or member). Task p is an ordinary query of its own: it reads partition p, owns the state of the
 * keys that hash to p, checkpoints under `<checkpoint>/tasks/<p>` with its own batch ids, and never waits for another.
 * @example const query = await startTasks(sessionContext, { source: partitioned, nodes, outputMode: 'update', sink })
 * @throws PartitioningMismatchError when the query keeps state by key but the source is not partitioned by the
 * engine's stable key hash; IncompatibleCheckpointError when a query read as one source wrote the checkpoint; InvalidQueryError and every checkpoint error of a task, before any batch runs.
 */
export async function startTasks(
  session: SessionContext,
  def: PartitionedQueryDefinition,
  only?: readonly number[],
): Promise<StreamingQuery> {
  const { partitions } = def.source.partitioning
  checkPartitioning(def)
  if (def.checkpointLocation !== undefined) await checkRunsAs(session.fs, def.checkpointLocation, 'tasks')
  // A worker or member starts only its share, after the thread that started the query checked the count.
  if (def.checkpointLocation !== undefined && only === undefined) await tasksMetadata(session.fs, def.checkpointLocation, partitions)
  const indices = only ?? Array.from({ length: partitions }, (_, p) => p)
  for (const p of indices) {
    if (!Number.isInteger(p) || p < 0 || p >= partitions) throw new RangeError(`no task ${p}: the source has ${partitions} partitions`)
  }
  let aggregate: TasksQuery | undefined
  const ended = new Set<number>()
  const started: (StreamingQuery | undefined)[] = indices.map(() => undefined)
  try {
    await Promise.all(
      indices.map(async (p, i) => {
        const task = await startQuery(
          {
            ...session,
            onTerminated: (q) => {
              ended.add(p)
              aggregate?.taskEnded(q)
              if (aggregate !== undefined && ended.size === indices.length) session.onTerminated(aggregate)
            },
          },
          taskDefinition(def, p),
        )
        started[i] = task
      }),
    )
  } catch (e) {
    await Promise.all(started.map((q) => q?.stop().catch(() => undefined)))
    throw e
  }
  aggregate = new TasksQuery(def.queryName, randomUUID(), started as StreamingQuery[], indices, partitions)
  if (ended.size === indices.length) session.onTerminated(aggregate)
  return aggregate
}

/**
 * Task p of a query over a partitioned source, as a query of its own: partition p of the source, the name
 * `<name>[task p]`, the checkpoint `<checkpoint>/tasks/<p>`, and the ownership its state store checks keys against.
 * @example await startQuery(context, taskDefinition(def, 3))
 * @throws never.
 */
export function taskDefinition(def: PartitionedQueryDefinition, p: number): QueryDefinition {
  return {
    ...def,
    source: def.source.partition(p),
    queryName: def.queryName === undefined ? undefined : `${def.queryName}[task ${p}]`,
    checkpointLocation: def.checkpointLocation === undefined ? undefined : checkpointLayout(def.checkpointLocation).task(p),
    task: { task: p, tasks: def.source.partitioning.partitions, source: def.source.description },
  }
}
