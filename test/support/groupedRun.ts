/**
 * One run of a query grouped by user over a memory source: start on `dir`, feed `rows`, drain, stop. Tests of state
 * across restarts call it once per run, changing the aggregation between runs.
 */
import * as t from 'io-ts'
import { createSession, type Grouped, groupBy, memorySink, type MemorySource, type Operator } from '../../src/index.js'

/**
 * Runs `agg` per `user` in update mode with its checkpoint at `dir`, once over `rows`, and returns what the sink got.
 * @example const rows = await runGroupedOnce(dir, input, count(), [{ user: 'a' }])
 */
export async function runGroupedOnce<T extends { user: string }, R>(dir: string, input: MemorySource<T>, agg: Operator<Grouped<string, T>, R>, rows: T[]): Promise<R[]> {
  const sink = memorySink<R>()
  const q = await createSession()
    .readStream(input.source)
    .pipe(groupBy((r: T) => r.user, t.string), agg)
    .writeStream({ outputMode: 'update', sink, checkpointLocation: dir })
    .start()
  input.addData(rows)
  await q.processAllAvailable()
  await q.stop()
  return sink.rows()
}
