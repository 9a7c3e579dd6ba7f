import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { type OpenedCheckpoint, openCheckpoint, type RetentionOptions } from '../checkpoint/fileCheckpoint.js'
import { CURRENT_FORMAT_VERSION } from '../checkpoint/format.js'
import type { CheckpointFs } from '../checkpoint/fs.js'
import { InvalidQueryError } from '../errors.js'
import { checkCompatibility } from '../plan/compatibility.js'
import { type CompiledPlan, compilePlan } from '../plan/compile.js'
import { explainPlan } from '../plan/explain.js'
import { fingerprintOf } from '../plan/fingerprint.js'
import type { PlanNode } from '../plan/nodes.js'
import type { Sink } from '../sinks/sink.js'
import type { Source } from '../sources/source.js'
import type { OutputMode } from './batch.js'
import type { StreamingQueryProgress } from './progress.js'
import { noCheckpoint } from './queryCheckpoint.js'
import { MicroBatchQuery, type StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'

/** What starting a query needs from its session. */
export interface StartContext {
  readonly fs: CheckpointFs
  readonly shufflePartitions: number
  readonly retention: RetentionOptions
  readonly numRecentProgressUpdates: number
  readonly warn: (message: string) => void
  readonly onStarted: (q: StreamingQuery) => void
  readonly onProgress: (q: StreamingQuery, p: StreamingQueryProgress) => void
  readonly onIdle: (q: StreamingQuery) => void
  readonly onTerminated: (q: StreamingQuery) => void
}

/** The query as `writeStream` describes it. */
export interface QueryDefinition {
  readonly source: Source<unknown>
  readonly nodes: readonly PlanNode[]
  readonly outputMode: OutputMode
  readonly sink: Sink<unknown>
  readonly queryName?: string
  readonly trigger?: Trigger
  readonly checkpointLocation?: string
}

/**
 * Compiles, checks and starts a query: the plan is validated first, then the checkpoint is locked and checked
 * against the plan, the source and sink are opened, state is restored, and the micro-batch loop starts.
 * @throws InvalidQueryError, ConcurrentQueryError, IncompatibleCheckpointError, CheckpointCorruptedError,
 * CheckpointVersionError — all before any batch runs.
 */
export async function startQuery(ctx: StartContext, def: QueryDefinition): Promise<StreamingQuery> {
  if (def.sink === undefined || typeof def.sink.open !== 'function') {
    throw new InvalidQueryError('writeStream: `sink` must be a sink such as memorySink(), foreachBatch(fn) or jsonFilesSink(dir)')
  }
  let partitions = ctx.shufflePartitions
  let plan = compilePlan(def.nodes, def.outputMode, partitions)
  const runId = randomUUID()
  let opened: OpenedCheckpoint | undefined
  if (def.checkpointLocation !== undefined) {
    opened = await openCheckpoint(
      ctx.fs,
      def.checkpointLocation,
      { id: randomUUID(), fingerprint: fingerprintOf(plan, def.source, partitions, CURRENT_FORMAT_VERSION) },
      { runId, queryName: def.queryName },
      ctx.retention,
    )
  }
  try {
    if (opened !== undefined && !opened.isNew) {
      if (opened.metadata.shufflePartitions !== partitions) {
        ctx.warn(
          `structured-rx: checkpoint ${def.checkpointLocation} has ${opened.metadata.shufflePartitions} shuffle ` +
            `partitions; the session's setting ${partitions} is ignored (use 'structured-rx rescale' to change it)`,
        )
        partitions = opened.metadata.shufflePartitions
        plan = compilePlan(def.nodes, def.outputMode, partitions)
      }
      checkCompatibility(def.checkpointLocation!, opened.metadata.fingerprint, fingerprintOf(plan, def.source, partitions, CURRENT_FORMAT_VERSION), plan)
    }
    opened?.checkpoint.setPlanFingerprint(fingerprintOf(plan, def.source, partitions, CURRENT_FORMAT_VERSION))
    return await launch(ctx, def, plan, partitions, opened, runId)
  } catch (e) {
    await opened?.checkpoint.close().catch(() => undefined)
    throw e
  }
}

async function launch(
  ctx: StartContext,
  def: QueryDefinition,
  plan: CompiledPlan,
  partitions: number,
  opened: OpenedCheckpoint | undefined,
  runId: string,
): Promise<StreamingQuery> {
  const logDir = def.checkpointLocation === undefined ? undefined : join(def.checkpointLocation, 'sources', '0')
  const reader = await def.source.open({ fs: ctx.fs, logDir, restarting: opened !== undefined && !opened.isNew })
  try {
    const writer = await def.sink.open({ queryName: def.queryName, outputMode: def.outputMode, fs: ctx.fs })
    return await MicroBatchQuery.start({
      id: opened?.metadata.id ?? randomUUID(),
      runId,
      name: def.queryName,
      plan,
      reader,
      sourceDescription: def.source.description,
      writer,
      sinkDescription: def.sink.description,
      trigger: def.trigger ?? { kind: 'processingTime', intervalMs: 0 },
      checkpoint: opened?.checkpoint ?? noCheckpoint,
      numRecentProgressUpdates: ctx.numRecentProgressUpdates,
      explain: () => explainPlan(plan, def.source.description, def.sink.description, partitions),
      onStarted: ctx.onStarted,
      onProgress: ctx.onProgress,
      onIdle: ctx.onIdle,
      onTerminated: ctx.onTerminated,
    })
  } catch (e) {
    await reader.stop().catch(() => undefined)
    throw e
  }
}
