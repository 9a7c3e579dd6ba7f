/**
 * Clusters: every process that starts the same query with the same cluster name is a member, and the members share
 * the query's tasks through a coordinator (leases with compare-and-set, heartbeats, fair shares, takeover, fencing).
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { checkRunsAs } from '../checkpoint/tasksMetadata.js'
import { coordinatorFor } from '../durable/sharedCoordinator.js'
import { InvalidQueryError } from '../errors.js'
import { ClusterQuery } from './clusterQuery.js'
import type { ClusterOptions, SessionContext } from './queryRun.js'
import { checkPartitioning, type PartitionedQueryDefinition } from './tasks.js'

const NAME = /^[A-Za-z0-9_-]{1,64}$/

/**
 * Starts this process as a member of a cluster that runs a query's tasks: it heartbeats, takes free tasks up to its
 * fair share, hands tasks above its share to members that join (after their current batch), takes over the tasks of
 * members whose leases expired, and runs each task it holds as an ordinary query over the shared checkpoint, locked
 * by the task's lease and fenced where its commits are written.
 * @example const query = await startCluster(context, def, { name: 'counts', coordinator: redisCoordinator(url) })
 * @throws InvalidQueryError for a bad cluster name or heartbeat, or without a checkpoint location (the state must be
 * in a store every member reads); PartitioningMismatchError as startTasks; the coordinator's error of the first heartbeat.
 */
export async function startCluster(session: SessionContext, def: PartitionedQueryDefinition, cluster: ClusterOptions): Promise<ClusterQuery> {
  if (typeof cluster.name !== 'string' || !NAME.test(cluster.name)) {
    throw new InvalidQueryError(`writeStream: cluster.name must be 1-64 letters, digits, '_' or '-', got ${JSON.stringify(cluster.name)}`)
  }
  const heartbeatMs = cluster.heartbeatMs ?? ('ttlMs' in cluster.coordinator ? Math.max(1, Math.floor(cluster.coordinator.ttlMs / 4)) : 1_000)
  if (!(heartbeatMs > 0)) throw new InvalidQueryError(`writeStream: cluster.heartbeatMs must be a positive number, got ${heartbeatMs}`)
  if (def.checkpointLocation === undefined) {
    throw new InvalidQueryError(
      `writeStream: cluster '${cluster.name}' needs a checkpointLocation that every member reads (a shared directory or S3): ` +
        'a task that moves to another member restores its state from there',
    )
  }
  if ((def.parallelism ?? 1) !== 1) {
    throw new InvalidQueryError(`writeStream: cluster '${cluster.name}' runs one task loop per member; run more members instead of parallelism ${def.parallelism}`)
  }
  checkPartitioning(def)
  await checkRunsAs(session.fs, def.checkpointLocation, 'tasks')
  const member = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const coordinator = coordinatorFor(cluster.coordinator, cluster.name)
  const query = new ClusterQuery(session, def, { name: cluster.name, coordinator, heartbeatMs }, member)
  await query.join()
  return query
}

