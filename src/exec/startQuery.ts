/**
 * exec/ — running a query. Takes the plan (data) and makes it run: `instantiate` builds executors and state stores,
 * `startQuery` sequences start-up, `MicroBatchQuery` is the public handle, `TriggerLoop` decides when a batch runs
 * and `BatchRunner` runs one (offsets → read → steps → sink → state + commit). It uses sources, sinks, state and
 * the checkpoint below it; nothing below imports it.
 */
import { randomUUID } from 'node:crypto'
import { type OpenedCheckpoint, openCheckpoint } from '../checkpoint/openCheckpoint.js'
import { checkpointLayout } from '../checkpoint/layout.js'
import { checkRunsAs } from '../checkpoint/tasksMetadata.js'
import { noCheckpoint } from '../checkpoint/queryCheckpoint.js'
import { CURRENT_FORMAT_VERSION } from '../durable/format.js'
import { InvalidQueryError } from '../errors.js'
import { checkCompatibility } from '../plan/compatibility.js'
import { compilePlan } from '../plan/compile.js'
import { fingerprintOf } from '../plan/fingerprint.js'
import { type Executable, instantiate } from './instantiate.js'
import type { QueryDefinition, SessionContext } from './queryRun.js'
import { MicroBatchQuery, type StreamingQuery } from './streamingQuery.js'

/**
 * Starts a query, in this order: compile the plan (once) → open the checkpoint, whose metadata decides the partition
 * count → check the plan against the fingerprint the checkpoint recorded → build executors and state stores →
 * open the source and sink → recover state and position → run the trigger loop.
 * @example const query = await startQuery(sessionContext, { source, nodes, outputMode: 'update', sink })
 * @throws InvalidQueryError, ConcurrentQueryError, IncompatibleCheckpointError, CheckpointCorruptedError,
 * CheckpointVersionError — all before any batch runs.
 */
export async function startQuery(session: SessionContext, def: QueryDefinition): Promise<StreamingQuery> {
  if (def.sink === undefined || typeof def.sink.open !== 'function') {
    throw new InvalidQueryError('writeStream: `sink` must be a sink such as memorySink(), foreachBatch(fn) or jsonFilesSink(dir)')
  }
  if (def.cluster !== undefined && def.task === undefined) {
    throw new InvalidQueryError(
      `writeStream: cluster '${def.cluster.name}' shares a query's tasks, which need a partitioned source ` +
        '(a jetStream or redisStream with partitions, partitionedSource(...)); repartition the input first',
    )
  }
  const plan = compilePlan(def.nodes, def.outputMode)
  if (def.task === undefined && def.checkpointLocation !== undefined) await checkRunsAs(session.fs, def.checkpointLocation, 'one query')
  const runId = randomUUID()
  let opened: OpenedCheckpoint | undefined
  if (def.checkpointLocation !== undefined) {
    opened = await openCheckpoint(
      session.fs,
      def.checkpointLocation,
      { id: randomUUID(), fingerprint: fingerprintOf(plan, def.source, session.shufflePartitions, CURRENT_FORMAT_VERSION) },
      { runId, queryName: def.queryName },
      session.retention,
      session.takeLock,
    )
  }
  try {
    const partitions = opened?.metadata.shufflePartitions ?? session.shufflePartitions
    if (opened !== undefined && partitions !== session.shufflePartitions) {
      session.warn(
        `structured-rx: checkpoint ${def.checkpointLocation} has ${partitions} shuffle ` +
          `partitions; the session's setting ${session.shufflePartitions} is ignored (use 'structured-rx rescale' to change it)`,
      )
    }
    const fingerprint = fingerprintOf(plan, def.source, partitions, CURRENT_FORMAT_VERSION)
    if (opened !== undefined && !opened.isNew) {
      checkCompatibility(def.checkpointLocation!, opened.metadata.fingerprint, fingerprint, plan)
    }
    opened?.checkpoint.setPlanFingerprint(fingerprint)
    return await launch(session, def, instantiate(plan, partitions, session.patchDeltas, def.task), partitions, opened, runId)
  } catch (e) {
    await opened?.checkpoint.close().catch(() => undefined)
    throw e
  }
}

async function launch(
  session: SessionContext,
  def: QueryDefinition,
  executable: Executable,
  partitions: number,
  opened: OpenedCheckpoint | undefined,
  runId: string,
): Promise<StreamingQuery> {
  const logDir = def.checkpointLocation === undefined ? undefined : checkpointLayout(def.checkpointLocation).source(0)
  const id = opened?.metadata.id ?? randomUUID()
  const reader = await def.source.open({ fs: session.fs, logDir, restarting: opened !== undefined && !opened.isNew })
  try {
    const writer = await def.sink.open({
      queryId: id,
      queryName: def.queryName,
      checkpointLocation: def.checkpointLocation,
      outputMode: def.outputMode,
      fs: session.fs,
      task: def.task,
    })
    return await MicroBatchQuery.start({
      id,
      runId,
      def,
      trigger: def.trigger ?? { kind: 'processingTime', intervalMs: 0 },
      executable,
      partitions,
      reader,
      writer,
      checkpoint: opened?.checkpoint ?? noCheckpoint,
      session,
    })
  } catch (e) {
    await reader.stop().catch(() => undefined)
    throw e
  }
}
