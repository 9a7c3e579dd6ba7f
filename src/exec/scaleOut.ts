import { InvalidQueryError, QueryModuleError } from '../errors.js'
import { startCluster } from './cluster.js'
import type { SessionContext } from './queryRun.js'
import type { StreamingQuery } from './streamingQuery.js'
import { type PartitionedQueryDefinition, startTasks } from './tasks.js'
import { tasksMetadata } from '../checkpoint/tasksMetadata.js'
import { workerResourceLimits } from './workerLimits.js'
import { startOnWorkers } from './workers.js'
import type { QueryModuleRef, WorkerSessionOptions } from './workerProtocol.js'

/** How a query is to be scaled out: the module it was defined in and, in a worker, the tasks it runs. */
export interface Scaling {
  readonly definedIn?: QueryModuleRef
  readonly tasks?: readonly number[]
}

/**
 * Starts a query over a partitioned source as tasks: on this thread (parallelism 1, or the share of a worker), on
 * `parallelism` worker threads that import the query from the module `defineQuery` recorded, or as one member of
 * a cluster (`cluster`) that shares the tasks with every process starting the same query.
 * @example const query = await startScaledOut(context, def, session.scaling, session.options)
 * @throws RangeError for a parallelism that is not a positive integer; QueryModuleError when parallelism is above 1
 * and the query was not started through `defineQuery`; InvalidQueryError with a custom fs; every error of startTasks
 * and startCluster.
 */
export async function startScaledOut(
  context: SessionContext,
  def: PartitionedQueryDefinition,
  scaling: Scaling,
  session: WorkerSessionOptions & { readonly fs?: unknown },
): Promise<StreamingQuery> {
  if (def.cluster !== undefined) return startCluster(context, def, def.cluster)
  const parallelism = checkParallelism(def, scaling, session)
  if (parallelism === 1 || scaling.tasks !== undefined) return startTasks(context, def, scaling.tasks)
  const { shufflePartitions, numRecentProgressUpdates, snapshotInterval, minBatchesToRetain, stateDeltas } = session
  const settings = { shufflePartitions, numRecentProgressUpdates, snapshotInterval, minBatchesToRetain, stateDeltas }
  if (def.checkpointLocation !== undefined) await tasksMetadata(context.fs, def.checkpointLocation, def.source.partitioning.partitions)
  return startOnWorkers(context, scaling.definedIn!, def.source.partitioning.partitions, parallelism, settings, workerResourceLimits(def))
}

/**
 * Checks `parallelism` before anything starts: a positive integer, and above 1 (outside a worker) only for a query
 * defined in a module and on the default file system.
 * @example const parallelism = checkParallelism(def, session.scaling, session.options)
 * @throws RangeError, QueryModuleError or InvalidQueryError, as startScaledOut.
 */
export function checkParallelism(
  def: { readonly parallelism?: number },
  scaling: Scaling,
  session: { readonly fs?: unknown },
): number {
  const parallelism = def.parallelism ?? 1
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw new RangeError(`writeStream: parallelism must be a positive integer, got ${parallelism}`)
  }
  if (parallelism === 1 || scaling.tasks !== undefined) return parallelism
  if (scaling.definedIn === undefined) {
    throw new QueryModuleError(
      `writeStream: parallelism ${parallelism} runs the query on worker threads, which import it from its module: ` +
        `define it with defineQuery(import.meta.url, '<export name>', (session) => …) and start it with .start()`,
    )
  }
  if (session.fs !== undefined) {
    throw new InvalidQueryError('writeStream: parallelism above 1 uses the default file system in every worker; a custom session fs cannot cross threads')
  }
  return parallelism
}
