import type { QueryCheckpoint } from '../checkpoint/queryCheckpoint.js'
import type { RetentionOptions } from '../checkpoint/fileCheckpoint.js'
import type { CheckpointFs } from '../durable/fs.js'
import type { Coordinator } from '../durable/lease.js'
import type { SharedCoordinator } from '../durable/sharedCoordinator.js'
import type { CheckpointLock } from '../durable/lock.js'
import type { PlanNode } from '../plan/nodes.js'
import type { OutputMode } from '../plan/plan.js'
import type { Sink, SinkWriter } from '../sinks/sink.js'
import type { SourceReader, Source } from '../sources/source.js'
import type { TaskOwnership } from '../state/stateStore.js'
import type { Executable } from './instantiate.js'
import type { StreamingQueryProgress } from './progress.js'
import type { StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'
import type { WorkerResourceLimits } from './workerLimits.js'

/**
 * Options of `writeStream`, as Spark's DataStreamWriter.
 * @example
 * stream.writeStream({ outputMode: 'append', sink: jsonFilesSink('/out/events'), queryName: 'events',
 *   trigger: trigger.processingTime('10 seconds'), checkpointLocation: '/ckpt/events' })
 */
export interface WriteStreamOptions<T> {
  readonly outputMode: OutputMode
  readonly sink: Sink<T>
  readonly queryName?: string
  readonly trigger?: Trigger
  /** Directory of the checkpoint (write-ahead logs and state). Without it, state lives in memory only. */
  readonly checkpointLocation?: string
  /**
   * Worker threads of this process that run the tasks of a query over a partitioned source (default 1: the tasks run
   * on the calling thread). Above 1, the query must be defined in a module with `defineQuery`, which each worker imports.
   */
  readonly parallelism?: number
  /**
   * The V8 heap limits of each worker thread (with `parallelism` above 1), in MiB; fields left out keep the engine's
   * default (`WORKER_RESOURCE_LIMITS`: a 96 MiB young generation) or V8's. Refused with parallelism 1.
   */
  readonly workerResourceLimits?: WorkerResourceLimits
  /**
   * Runs the tasks of a query over a partitioned source in a cluster: every process that starts the same query with
   * the same cluster name shares its tasks through `coordinator` (leases, fair shares, takeover, fencing).
   */
  readonly cluster?: ClusterOptions
}

/**
 * A cluster of processes sharing the tasks of one query (`writeStream({ cluster })`).
 * @example writeStream({ outputMode: 'update', sink, checkpointLocation, cluster: { name: 'counts', coordinator: redisCoordinator(url) } })
 */
export interface ClusterOptions {
  /** The cluster's name: letters, digits, `_` and `-`; members of one query use the same name. */
  readonly name: string
  /** Where members agree on who runs which task: `redisCoordinator(url)`, `natsCoordinator(servers)`, `memoryCoordinator`. */
  readonly coordinator: Coordinator | SharedCoordinator
  /**
   * How often the member heartbeats, renews its leases and rebalances, in ms (default: a quarter of a Redis or NATS
   * coordinator's TTL, else 1000); keep it well below the coordinator's TTL.
   */
  readonly heartbeatMs?: number
  /**
   * The longest one call to the coordinator may take, in ms (default four heartbeats: the coordinator's TTL
   * with the default heartbeat); past it the call fails with
   * `CoordinatorUnavailableError` naming it, and the member tries again at its next heartbeat.
   */
  readonly callTimeoutMs?: number
  /**
   * The signals on which the member hands its tasks over and leaves (default `['SIGINT', 'SIGTERM']`; `false` for
   * none): its tasks stop after their batch and their leases are released, so the others need not wait for the TTL.
   * Without a listener of the application's own the process then ends by the signal, as by Node's default.
   */
  readonly stopOnSignals?: readonly NodeJS.Signals[] | false
}

/** A query as `writeStream` describes it: its source, the plan nodes piped after it, and the writer's options. */
export interface QueryDefinition extends WriteStreamOptions<unknown> {
  readonly source: Source<unknown>
  readonly nodes: readonly PlanNode[]
  /** Set when this query is one task of a query over a partitioned source. */
  readonly task?: TaskOwnership
}

/** What a query reports to its session's listener bus. */
export interface QueryListeners {
  /** Called once recovered, before the first trigger: `started` precedes every other event of the run. */
  readonly onStarted: (q: StreamingQuery) => void
  readonly onProgress: (q: StreamingQuery, p: StreamingQueryProgress) => void
  readonly onIdle: (q: StreamingQuery) => void
  readonly onTerminated: (q: StreamingQuery) => void
}

/** What starting a query needs from its session. */
export interface SessionContext extends QueryListeners {
  readonly fs: CheckpointFs
  readonly shufflePartitions: number
  /** Whether object state may be recorded as patch deltas. */
  readonly patchDeltas: boolean
  readonly retention: RetentionOptions
  readonly numRecentProgressUpdates: number
  /** An idle query records a progress and posts onQueryIdle at most this often (ms). */
  readonly noDataProgressEventIntervalMs: number
  readonly warn: (message: string) => void
  /** How a query takes its checkpoint's lock (default: the lock file); a cluster task holds a lease instead. */
  readonly takeLock?: (fs: CheckpointFs, location: string, owner: { runId: string; queryName?: string }) => Promise<CheckpointLock>
}

/** A started query's parts: what it is, what it runs, and where it reads, writes and checkpoints. */
export interface QueryRun {
  /** Stable id, kept in the checkpoint across restarts. */
  readonly id: string
  /** Id of this run; new on every start. */
  readonly runId: string
  readonly def: QueryDefinition
  readonly trigger: Trigger
  readonly executable: Executable
  /** Shuffle partitions of the state, as the checkpoint decided. */
  readonly partitions: number
  readonly reader: SourceReader<unknown>
  readonly writer: SinkWriter<unknown>
  readonly checkpoint: QueryCheckpoint
  readonly session: SessionContext
}
