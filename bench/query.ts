/** Runs a real streaming query as a benchmark case: the timed part is feeding it its micro-batches. */
import { createSession, foreachBatch, memorySource, type OutputMode, type Session, type Stream } from '../src/index.js'
import { type BenchCase, phasedCase } from './harness.js'

/**
 * A case that, per repetition, starts `query` on a fresh session over a memory source with a sink that only counts
 * rows (untimed), then times `addData(batch)` + `processAllAvailable()` for every batch, from the first `addData` to
 * the last `processAllAvailable`, and stops the query (untimed). The checksum is `checksum(lastBatch, outputRows)`.
 */
export function queryCase<T, R>(spec: {
  readonly name: string
  readonly batches: readonly (readonly T[])[]
  readonly shufflePartitions: number
  readonly outputMode: OutputMode
  readonly query: (input: Stream<T>) => Stream<R>
  readonly checksum: (lastBatch: readonly R[], outputRows: number) => number
  /** Attaches something to the fresh session before the query starts (untimed); returns how to detach it. */
  readonly instrument?: (session: Session) => Promise<() => Promise<void>>
}): BenchCase {
  const rows = spec.batches.reduce((n, b) => n + b.length, 0)
  return phasedCase(spec.name, rows, {
    async setup() {
      const session = createSession({ shufflePartitions: spec.shufflePartitions })
      const detach = (await spec.instrument?.(session)) ?? (async () => {})
      const input = memorySource<T>()
      const seen = { outputRows: 0, lastBatch: [] as readonly R[] }
      const sink = foreachBatch<R>((batch) => {
        seen.outputRows += batch.length
        seen.lastBatch = batch
      })
      const query = await spec.query(session.readStream(input.source)).writeStream({ outputMode: spec.outputMode, sink }).start()
      // The first (empty) trigger runs before timing starts, so start-up is not part of the figure.
      await query.processAllAvailable()
      return { input, query, seen, detach }
    },
    async run({ input, query, seen }) {
      for (const batch of spec.batches) {
        input.addData(batch)
        await query.processAllAvailable()
      }
      return spec.checksum(seen.lastBatch, seen.outputRows)
    },
    async teardown({ query, detach }) {
      await query.stop()
      await detach()
      if (query.exception) throw query.exception
    },
  })
}
