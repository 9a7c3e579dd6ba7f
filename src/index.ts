/**
 * structured-rx: streaming queries as RxJS operator chains, run as incremental, checkpointed micro-batch plans.
 * @module structured-rx
 */

// Sessions, streams and queries
export { createSession, Session, StreamingQueryManager } from './session.js'
export type { SessionOptions, StreamingQueryListener, StreamingQueryEvent } from './session.js'
export { Stream } from './stream.js'
export type { DataStreamWriter, WriteStreamOptions } from './stream.js'
export type { StreamingQuery } from './exec/streamingQuery.js'
export type { StreamingQueryProgress, StreamingQueryStatus, StateOperatorProgress, SourceProgress } from './exec/progress.js'
export { isIdleProgress } from './exec/progress.js'
export type { OutputMode } from './plan/plan.js'

// Scale-out: a query over a partitioned source runs as tasks, on worker threads when defined in a module
export { defineQuery } from './defineQuery.js'
export type { DefinedQuery } from './defineQuery.js'
export { partitionedSource, isPartitioned } from './sources/partitioned.js'
export type { Coordinator, Lease } from './durable/lease.js'
export { memoryCoordinator, type MemoryCoordinatorOptions } from './durable/memoryCoordinator.js'
export type { ClusterOptions } from './exec/queryRun.js'
export { WORKER_RESOURCE_LIMITS } from './exec/workerLimits.js'
export type { WorkerResourceLimits } from './exec/workerLimits.js'
export type { ClusterQuery } from './exec/clusterQuery.js'
export type { ClusterTaskView, ClusterView } from './exec/clusterView.js'
export { scaleOutOf } from './exec/scaleOutView.js'
export type { ScaleOutStatus, TaskStatus } from './exec/scaleOutView.js'
export type { PartitionedSource, Partitioning } from './sources/partitioned.js'
// Repartition: a query over input not partitioned by key, split in two through a partitioned stream
export { repartition } from './operators/index.js'
export { jetStreamPartitions, redisStreamPartitions } from './exec/repartitionVia.js'
export type { JetStreamPartitionsOptions, RedisStreamPartitionsOptions, RepartitionVia } from './exec/repartitionVia.js'
export type { RepartitionTarget } from './plan/nodes.js'
export type { PartitionBy } from './sinks/placement.js'
export { trigger } from './exec/trigger.js'
export type { Trigger } from './exec/trigger.js'

// Operators
export {
  map,
  filter,
  flatMap,
  withWatermark,
  groupBy,
  count,
  sum,
  avg,
  min,
  max,
  agg,
  aggregate,
  dropDuplicates,
  mapGroupsWithState,
  GroupState,
} from './operators/index.js'
export type { AggregateSpec, MapGroupsWithStateSpec, StateRecipe } from './operators/index.js'
export { migration, PLAN } from './plan/nodes.js'
export type {
  Operator,
  StructuredRxOperator,
  Grouped,
  WindowGrouped,
  Window,
  WindowSpec,
  Aggregator,
  Migration,
  ErasedMigration,
  Codec,
  ResultRow,
  PlanNode,
} from './plan/nodes.js'

// Sources and sinks
export type { Source, SourceReader, SourceContext, Offset } from './sources/source.js'
export type { Sink, SinkWriter, SinkContext } from './sinks/sink.js'
export { memorySource } from './sources/memorySource.js'
export type { MemorySource } from './sources/memorySource.js'
export { rateSource } from './sources/rateSource.js'
export type { RateRow } from './sources/rateSource.js'
export { jsonFiles } from './sources/jsonFiles.js'
export type { JsonFilesOptions } from './sources/jsonFiles.js'
export { fromObservable } from './sources/fromObservable.js'
export { memorySink } from './sinks/memorySink.js'
export type { MemorySink } from './sinks/memorySink.js'
export { foreachBatch } from './sinks/foreachBatch.js'
export { consoleSink } from './sinks/consoleSink.js'
export { jsonFilesSink, readJsonFilesSink } from './sinks/jsonFilesSink.js'
export type { JsonFilesSinkOptions } from './sinks/jsonFilesSink.js'

// Connectors: partitioned, replayable logs (NATS JetStream, Redis Streams) and their exactly-once sinks
export { jetStream } from './sources/jetStream.js'
export type { JetStreamOptions } from './sources/jetStream.js'
export { redisStream } from './sources/redisStream.js'
export type { RedisStreamOptions } from './sources/redisStream.js'
export type { LogSourceOptions } from './sources/logSource.js'
export { jetStreamSink } from './sinks/jetStreamSink.js'
export type { JetStreamSinkOptions } from './sinks/jetStreamSink.js'
export { redisStreamSink } from './sinks/redisStreamSink.js'
export type { RedisStreamSinkOptions } from './sinks/redisStreamSink.js'
export type { RetryOptions } from './durable/retry.js'

// Checkpoint file system (fault-injecting ones: structured-rx/testing)
export { nodeFs } from './durable/fs.js'
export type { CheckpointFs } from './durable/fs.js'

// Connectors: PostgreSQL and S3
export { postgresSink } from './sinks/postgresSink.js'
export type { PostgresSinkOptions, PostgresConnection, PostgresPoolLike } from './sinks/postgresSink.js'
export { createPostgresTable, postgresTableDdl } from './sinks/postgresTable.js'
export type { PostgresTableOptions } from './sinks/postgresTable.js'
export { s3CheckpointFs, isTransientS3Error } from './durable/s3Fs.js'
export type { S3CheckpointFs, S3CheckpointFsOptions, S3ClientLike } from './durable/s3Fs.js'

// Cluster coordinators: leases, heartbeats and epochs in Redis or NATS JetStream KV, timed by the server's clock
export { redisCoordinator } from './durable/redisCoordinator.js'
export { natsCoordinator } from './durable/natsCoordinator.js'
export type { NatsCoordinatorOptions } from './durable/natsCoordinator.js'
export type { SharedCoordinator, SharedCoordinatorOptions } from './durable/sharedCoordinator.js'

// Errors
export {
  StructuredRxError,
  StreamingQueryError,
  BadRecordError,
  BadMessageError,
  ConnectorUnavailableError,
  CheckpointCorruptedError,
  CheckpointVersionError,
  ConcurrentQueryError,
  CheckpointLockLostError,
  IncompatibleCheckpointError,
  InvalidQueryError,
  PartitioningMismatchError,
  QueryModuleError,
  FencedError,
  CoordinatorStateError,
  CoordinatorUnavailableError,
  PathNotFoundError,
  SourceFileChangedError,
} from './errors.js'

// Monitoring: metrics, the monitoring server and dashboard, alerting, forwarding progress
export { sessionMetrics } from './monitor/metrics.js'
export type { SessionMetrics, SessionMetricsOptions } from './monitor/metrics.js'
export { alerting, alertsOf } from './monitor/alerting.js'
export type { Alert, Alerting, AlertingOptions } from './monitor/alerting.js'
export { fallingBehind, stalled, slowBatch, queryFailed, stateGrowth } from './monitor/alertRules.js'
export type { AlertRule, RuleWatcher, RuleVerdict } from './monitor/alertRules.js'
export type { WebhookOptions } from './monitor/webhook.js'
export { serveMonitoring } from './monitor/server.js'
export type { MonitoringOptions, MonitoringServer } from './monitor/server.js'
export { forwardProgress } from './monitor/forwardProgress.js'
export type { ForwardedEvent, ForwardProgressOptions, ProgressForwarder } from './monitor/forwardProgress.js'
