/** Helpers of the upgrade tests: deploy a version of a query on a checkpoint, then the next version on the same one. */
import { expect } from 'vitest'
import {
  createSession,
  IncompatibleCheckpointError,
  memorySink,
  type MemorySource,
  type OutputMode,
  type SessionOptions,
  type Sink,
  type Source,
  type Stream,
  type StreamingQuery,
  type StreamingQueryProgress,
  type Trigger,
} from '../../src/index.js'

/** 2023-11-14T22:13:20Z, a multiple of 10 s: windows of 10 s start exactly at T0. */
export const T0 = 1_700_000_000_000

/** Seconds after T0, in epoch ms. */
export const at = (seconds: number): number => T0 + seconds * 1000

/** A sale, the input row of most upgrade tests. */
export interface Sale {
  readonly user: string
  readonly amount: number
  /** Event time, epoch ms. */
  readonly ts: number
}

/** A sale of `amount` by `user` at `seconds` after T0. */
export const sale = (user: string, amount: number, seconds = 0): Sale => ({ user, amount, ts: at(seconds) })

/** One deployment of a query: how it is built and written. */
export interface Deployment<T, R> {
  readonly build: (input: Stream<T>) => Stream<R>
  readonly outputMode: OutputMode
  /** Default: a new memorySink, whose table the run returns. */
  readonly sink?: Sink<R>
  readonly trigger?: Trigger
  /** Default: `{ shufflePartitions: 4, snapshotInterval: 2 }`, warnings dropped. */
  readonly session?: SessionOptions
  /** Default: the memory source the run is given. */
  readonly source?: Source<T>
}

/** What one deployment did: its memory sink's table and its progress. */
export interface DeploymentRun<R> {
  readonly rows: R[]
  readonly progress: readonly StreamingQueryProgress[]
  readonly query: StreamingQuery
}

/**
 * Starts a deployment on `checkpointLocation`, feeds `batches` to `input` one at a time (each processed completely),
 * and stops it. With trigger `once` or `availableNow`, every batch is added before the start and the run waits for
 * the query to stop by itself.
 * @throws whatever `start()` rejects with (IncompatibleCheckpointError…) or the query fails with.
 */
export async function deploy<T, R>(
  checkpointLocation: string,
  input: MemorySource<T>,
  deployment: Deployment<T, R>,
  batches: readonly (readonly T[])[] = [],
): Promise<DeploymentRun<R>> {
  const sink = deployment.sink ?? memorySink<R>()
  const session = createSession({ shufflePartitions: 4, snapshotInterval: 2, warn: () => {}, ...deployment.session })
  const drains = deployment.trigger?.kind === 'once' || deployment.trigger?.kind === 'availableNow'
  if (drains) for (const batch of batches) input.addData(batch)
  const query = await deployment
    .build(session.readStream(deployment.source ?? input.source))
    .writeStream({ outputMode: deployment.outputMode, sink, checkpointLocation, trigger: deployment.trigger })
    .start()
  try {
    if (drains) await query.awaitTermination()
    else {
      for (const batch of batches) {
        input.addData(batch)
        await query.processAllAvailable()
      }
    }
  } finally {
    await query.stop()
  }
  const rows = 'rows' in sink ? (sink as { rows(): R[] }).rows() : []
  return { rows, progress: query.recentProgress, query }
}

/** The IncompatibleCheckpointError a start must reject with, and its reasons as one text. */
export async function refusal(start: Promise<unknown>): Promise<{ error: IncompatibleCheckpointError; reasons: string }> {
  let error: unknown
  try {
    await start
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(IncompatibleCheckpointError)
  const refused = error as IncompatibleCheckpointError
  expect(refused.code).toBe('SRX_INCOMPATIBLE_CHECKPOINT')
  return { error: refused, reasons: refused.reasons.join('\n') }
}

/** Rows sorted by their canonical JSON, for tables whose order is not part of the contract. */
export function sorted<R>(rows: readonly R[]): R[] {
  return rows
    .map((row) => ({ row, text: JSON.stringify(row) }))
    .sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
    .map(({ row }) => row)
}
