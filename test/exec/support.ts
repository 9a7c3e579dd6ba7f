/** Helpers that start queries on a memory source and watch what they do. */
import { expect } from 'vitest'
import {
  createSession,
  foreachBatch,
  memorySink,
  memorySource,
  type MemorySink,
  type MemorySource,
  type OutputMode,
  type Session,
  type Stream,
  type StreamingQuery,
  type Trigger,
} from '../../src/index.js'

/** 2023-11-14T22:13:20Z, a multiple of 10 s: windows of 10 s start exactly at T0. */
export const T0 = 1_700_000_000_000

/** Seconds after T0, in epoch ms. */
export const at = (seconds: number): number => T0 + seconds * 1000

export interface Running<T, R> {
  readonly session: Session
  readonly input: MemorySource<T>
  readonly sink: MemorySink<R>
  /** The rows of every batch the sink committed, by batch id. */
  readonly batches: Map<number, R[]>
  readonly query: StreamingQuery
  /** Adds rows and waits until they are processed and committed. */
  feed(rows: readonly T[]): Promise<void>
}

/**
 * Starts `build` over a memory source, writing to a memory sink (or, with `perBatch`, recording each batch too).
 * Stop it with `query.stop()` at the end of the test.
 */
export async function startQuery<T, R>(
  build: (input: Stream<T>) => Stream<R>,
  options: {
    outputMode: OutputMode
    trigger?: Trigger
    maxRowsPerTrigger?: number
    queryName?: string
    /** Rows added before `start()`. */
    initial?: readonly T[]
  },
): Promise<Running<T, R>> {
  const session = createSession({ shufflePartitions: 4 })
  const input = memorySource<T>({ maxRowsPerTrigger: options.maxRowsPerTrigger })
  if (options.initial !== undefined) input.addData(options.initial)
  const sink = memorySink<R>()
  const batches = new Map<number, R[]>()
  const recording = teeSink(sink, batches)
  const query = await build(session.readStream(input.source))
    .writeStream({ outputMode: options.outputMode, sink: recording, trigger: options.trigger, queryName: options.queryName })
    .start()
  return {
    session,
    input,
    sink,
    batches,
    query,
    async feed(rows) {
      input.addData(rows)
      await query.processAllAvailable()
    },
  }
}

/** A sink that records each batch and passes it on to a memory sink. */
function teeSink<R>(sink: MemorySink<R>, batches: Map<number, R[]>): MemorySink<R> {
  const record = foreachBatch<R>((rows, batchId) => {
    batches.set(batchId, rows.slice())
  })
  return {
    description: sink.description,
    rows: () => sink.rows(),
    get lastBatchId() {
      return sink.lastBatchId
    },
    async open(ctx) {
      const [a, b] = await Promise.all([sink.open(ctx), record.open(ctx)])
      return {
        async addBatch(batchId, rows) {
          await a.addBatch(batchId, rows)
          await b.addBatch(batchId, rows)
        },
      }
    },
  }
}

/** The rejection of a promise that must reject (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject, but it resolved')
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function eventually(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) expect.fail(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
