/**
 * Clusters: every process that starts the same query with the same cluster name is a member, and the members share
 * the query's tasks through a coordinator (leases with compare-and-set, heartbeats, fair shares, takeover, fencing).
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { checkRunsAs, tasksMetadata } from '../checkpoint/tasksMetadata.js'
import { boundedCoordinator } from '../durable/boundedCoordinator.js'
import { coordinatorFor } from '../durable/sharedCoordinator.js'
import { InvalidQueryError } from '../errors.js'
import { ClusterQuery } from './clusterQuery.js'
import { stopOnSignals } from './clusterSignals.js'
import { clusterNames } from './clusterView.js'
import { type ClusterWork, partitionedWork } from './clusterWork.js'
import type { ClusterOptions, SessionContext } from './queryRun.js'
import { checkPartitioning, type PartitionedQueryDefinition } from './tasks.js'

const NAME = /^[A-Za-z0-9_-]{1,64}$/

/**
 * Starts this process as a member of a cluster that runs a query's tasks: it heartbeats, takes free tasks up to its
 * fair share, hands tasks above its share to members that join (after their current batch), takes over the tasks of
 * members whose leases expired, and runs each task it holds as an ordinary query over the shared checkpoint, locked
 * by the task's lease and fenced where its commits are written.
 * @example const query = await startCluster(context, def, { name: 'counts', coordinator: redisCoordinator(url) })
 * @throws InvalidQueryError as checkCluster; PartitioningMismatchError as startTasks; IncompatibleCheckpointError
 * for a checkpoint written by a query read as one source or by another number of tasks; the coordinator's error of
 * the first heartbeat.
 */
export async function startCluster(session: SessionContext, def: PartitionedQueryDefinition, cluster: ClusterOptions): Promise<ClusterQuery> {
  const location = checkCluster(def, cluster)
  checkPartitioning(def)
  await checkRunsAs(session.fs, location, 'tasks')
  await tasksMetadata(session.fs, location, def.source.partitioning.partitions)
  return joinCluster(session, cluster, partitionedWork(def, location, session.shufflePartitions))
}

/**
 * Checks a query's cluster options before anything starts, and returns the checkpoint location the members share.
 * @example const location = checkCluster(def, { name: 'counts', coordinator })
 * @throws InvalidQueryError for a bad cluster name, heartbeat, call timeout or list of signals, without a checkpoint location (the state must be
 * in a store every member reads), or with parallelism above 1.
 */
export function checkCluster(def: { readonly checkpointLocation?: string; readonly parallelism?: number }, cluster: ClusterOptions): string {
  if (typeof cluster.name !== 'string' || !NAME.test(cluster.name)) {
    throw new InvalidQueryError(`writeStream: cluster.name must be 1-64 letters, digits, '_' or '-', got ${JSON.stringify(cluster.name)}`)
  }
  if (!(heartbeatOf(cluster) > 0)) throw new InvalidQueryError(`writeStream: cluster.heartbeatMs must be a positive number, got ${heartbeatOf(cluster)}`)
  const signals = cluster.stopOnSignals
  if (signals !== undefined && signals !== false && !(Array.isArray(signals) && signals.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s)))) {
    throw new InvalidQueryError(`writeStream: cluster.stopOnSignals must be false or a list of signal names such as 'SIGINT', got ${JSON.stringify(signals)}`)
  }
  if (!(callTimeoutOf(cluster) > 0)) throw new InvalidQueryError(`writeStream: cluster.callTimeoutMs must be a positive number, got ${callTimeoutOf(cluster)}`)
  if (def.checkpointLocation === undefined) {
    throw new InvalidQueryError(
      `writeStream: cluster '${cluster.name}' needs a checkpointLocation that every member reads (a shared directory or S3): ` +
        'a task that moves to another member restores its state from there',
    )
  }
  if ((def.parallelism ?? 1) !== 1) {
    throw new InvalidQueryError(`writeStream: cluster '${cluster.name}' runs one task loop per member; run more members instead of parallelism ${def.parallelism}`)
  }
  return def.checkpointLocation
}

/**
 * Joins the cluster as a new member that leases and runs `work`'s tasks (options checked by checkCluster); on
 * `cluster.stopOnSignals` (default SIGINT and SIGTERM) it hands its tasks over and leaves.
 * @example const query = await joinCluster(context, cluster, partitionedWork(def, location, 4))
 * @throws the coordinator's error of the first heartbeat.
 */
export async function joinCluster(session: SessionContext, cluster: ClusterOptions, work: ClusterWork): Promise<ClusterQuery> {
  const member = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const store = 'description' in cluster.coordinator ? cluster.coordinator.description : 'in-process'
  const unbounded = coordinatorFor(cluster.coordinator, cluster.name)
  // The first call opens the store's connection (on NATS it may create the cluster's bucket): it is bounded by the
  // store's own timeouts and retries, not by the call timeout meant for a member that is already running.
  await unbounded.heartbeat(clusterNames(cluster.name).prefixed(member))
  const coordinator = boundedCoordinator(unbounded, { timeoutMs: callTimeoutOf(cluster), store })
  const query = new ClusterQuery(session, work, { name: cluster.name, coordinator, heartbeatMs: heartbeatOf(cluster) }, member)
  query.join()
  const unwatch = stopOnSignals(query, cluster.stopOnSignals === false ? [] : (cluster.stopOnSignals ?? ['SIGINT', 'SIGTERM']))
  void query.awaitTermination().catch(() => undefined).finally(unwatch)
  return query
}

/**
 * Four heartbeats by default, the TTL with the default heartbeat: past it the member's leases are gone anyway, and a
 * shorter bound would fail calls that a member's own busy event loop delayed.
 */
function callTimeoutOf(cluster: ClusterOptions): number {
  return cluster.callTimeoutMs ?? 4 * heartbeatOf(cluster)
}

function heartbeatOf(cluster: ClusterOptions): number {
  return cluster.heartbeatMs ?? ('ttlMs' in cluster.coordinator ? Math.max(1, Math.floor(cluster.coordinator.ttlMs / 4)) : 1_000)
}
