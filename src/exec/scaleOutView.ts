import type { ClusterView } from './clusterView.js'
import type { StreamingQueryProgress } from './progress.js'
import type { StreamingQuery } from './streamingQuery.js'

/**
 * One task of a query that runs as tasks: who runs it and its last batch.
 * @example scaleOutOf(query)?.taskStatus.map((t) => `${t.task}@${t.owner}`)
 */
export interface TaskStatus {
  readonly task: number
  /** In a cluster, its lease's name: `task-<p>`, or `repartition` for part one of a repartitioned query. */
  readonly name?: string
  /**
   * The member that runs it (in a cluster; undefined while nobody holds it), `'worker-<w>'` for a task on worker
   * thread w of this process, or `'local'` for a task on the thread that started the query.
   */
  readonly owner: string | undefined
  /** The epoch of its lease, in a cluster. */
  readonly epoch?: number
  /** Its last progress as seen here: only for the tasks this process runs. */
  readonly lastBatchId: number | null
  readonly inputRowsPerSecond: number | null
  readonly processedRowsPerSecond: number | null
}

/**
 * How a query that runs as tasks is spread: its tasks, their owners, and the sum of their last progress.
 * @example console.log(scaleOutOf(query)?.aggregate.processedRowsPerSecond)
 */
export interface ScaleOutStatus {
  /** The number of tasks (source partitions; in a cluster, every leased task, a repartitioned query's part one included). */
  readonly tasks: number
  /** In a cluster: this member and the live members. */
  readonly member?: string
  readonly members?: readonly string[]
  readonly taskStatus: readonly TaskStatus[]
  /** The sum over the tasks this process runs of their last progress: the query's rates here. */
  readonly aggregate: { readonly numInputRows: number; readonly inputRowsPerSecond: number; readonly processedRowsPerSecond: number }
}

/** A query handle that can say how it is spread (TasksQuery, ClusterQuery). */
interface ScaledOut {
  readonly scaleOut: ScaleOutStatus
}

/**
 * How a query is spread over tasks and members, or undefined for a query that does not run as tasks.
 * @example const s = scaleOutOf(query); if (s) console.log(s.taskStatus.map((t) => `${t.task}@${t.owner}`).join(' '))
 * @throws never.
 */
export function scaleOutOf(query: StreamingQuery): ScaleOutStatus | undefined {
  return 'scaleOut' in query ? (query as unknown as ScaledOut).scaleOut : undefined
}

/**
 * Sums the last progress of each task (the query's aggregate) and fills each task's rates.
 * @example aggregateOf(new Map([[0, progress0], [1, progress1]]))
 * @throws never.
 */
export function aggregateOf(last: ReadonlyMap<number, StreamingQueryProgress>): ScaleOutStatus['aggregate'] {
  let numInputRows = 0
  let inputRowsPerSecond = 0
  let processedRowsPerSecond = 0
  for (const p of last.values()) {
    numInputRows += p.numInputRows
    inputRowsPerSecond += p.inputRowsPerSecond
    processedRowsPerSecond += p.processedRowsPerSecond
  }
  return { numInputRows, inputRowsPerSecond, processedRowsPerSecond }
}

/**
 * A task's status from its owner and its last progress here.
 * @example taskStatus(3, 'local', undefined, query.lastProgress)
 * @throws never.
 */
export function taskStatus(task: number, owner: string | undefined, epoch: number | undefined, last: StreamingQueryProgress | undefined): TaskStatus {
  return {
    task,
    owner,
    ...(epoch === undefined ? {} : { epoch }),
    lastBatchId: last?.batchId ?? null,
    inputRowsPerSecond: last?.inputRowsPerSecond ?? null,
    processedRowsPerSecond: last?.processedRowsPerSecond ?? null,
  }
}

/**
 * A cluster member's scale-out status: every task's owner and epoch from its view, the last progress of the tasks
 * it runs, and their sum.
 * @example clusterScaleOut(member.clusterView, lastProgressByTask)
 * @throws never.
 */
export function clusterScaleOut(view: ClusterView, last: ReadonlyMap<number, StreamingQueryProgress>): ScaleOutStatus {
  return {
    tasks: view.tasks.length,
    member: view.member,
    members: view.members,
    taskStatus: view.tasks.map((t) => ({ ...taskStatus(t.task, t.owner, t.epoch, last.get(t.task)), name: t.name })),
    aggregate: aggregateOf(last),
  }
}
