/**
 * monitoring-overhead: group-by-count with everything a production deployment watches it with — the monitoring
 * server (Prometheus metrics) with one event-stream client reading, three listeners and the five alert rules — against
 * the same query with none of it, in the same rounds. Once with 100,000-row batches, once with 1,000-row batches
 * (where the per-batch cost of monitoring weighs most).
 */
import * as t from 'io-ts'
import {
  alerting,
  count,
  fallingBehind,
  groupBy,
  queryFailed,
  serveMonitoring,
  type Session,
  type Stream,
  slowBatch,
  stalled,
  stateGrowth,
} from '../src/index.js'
import { chunks, generateRows, type Row } from './data.js'
import type { BenchCase, BenchGroup } from './harness.js'
import { queryCase } from './query.js'

const PARTITIONS = 8

/** Σ count × (1 + key number) over the final counts, as in group-by-count. */
function countsChecksum(counts: Iterable<{ readonly key: string; readonly count: number }>): number {
  let sum = 0
  for (const { key, count } of counts) sum += count * (1 + Number(key.slice('key-'.length)))
  return sum
}

/** Server + one event-stream client + three listeners + five alert rules on `session`; returns how to remove them. */
async function monitorEverything(session: Session): Promise<() => Promise<void>> {
  const server = await serveMonitoring(session, { port: 0 })
  const client = new AbortController()
  const events = await fetch(new URL('api/events', server.url), { signal: client.signal })
  let received = 0
  const reading = (async () => {
    const reader = events.body!.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      received += value.length
    }
  })().catch(() => undefined)
  const rows = { n: 0 }
  session.streams.addListener({ onQueryProgress: ({ progress }) => void (rows.n += progress.numInputRows) })
  session.streams.addListener({ onQueryProgress: async ({ progress }) => void progress.json() })
  session.streams.addListener({ onQueryStarted: () => {}, onQueryIdle: () => {}, onQueryTerminated: () => {} })
  const alerts = alerting(session, {
    rules: [fallingBehind({ batches: 3 }), stalled({ after: '1 minute' }), slowBatch({ over: '10 seconds' }), queryFailed(), stateGrowth({ rows: 10_000_000 })],
  })
  return async () => {
    await session.stop()
    await alerts.close()
    client.abort()
    await reading
    await server.close()
    if (received === 0) throw new Error('monitoring bench: the event-stream client received nothing')
  }
}

function cases(label: string, batches: readonly (readonly Row[])[]): [BenchCase, BenchCase] {
  const spec = {
    batches,
    shufflePartitions: PARTITIONS,
    outputMode: 'update' as const,
    query: (input: Stream<Row>) => input.pipe(groupBy((r) => r.key, t.string), count()),
    // The last batch's counts plus the number of output rows: both sides must agree on each (a 1k-row batch does not
    // hold every key, so the last batch alone would check less).
    checksum: (lastBatch: readonly { key: string; count: number }[], outputRows: number) => countsChecksum(lastBatch) + outputRows,
  }
  return [
    queryCase<Row, { key: string; count: number }>({ name: `${label}, monitoring on`, ...spec, instrument: monitorEverything }),
    queryCase<Row, { key: string; count: number }>({ name: `${label}, monitoring off`, ...spec }),
  ]
}

export const monitoringGroup: BenchGroup = {
  name: 'monitoring-overhead',
  description: 'group-by-count, 1,000 keys: 1,000,000 rows in 10 batches, and 200,000 rows in 200 batches, with and without monitoring',
  prepare() {
    const large = chunks(generateRows({ count: 1_000_000, keys: 1_000, seed: 1 }), 100_000)
    const small = chunks(generateRows({ count: 200_000, keys: 1_000, seed: 2 }), 1_000)
    const [largeOn, largeOff] = cases('100k-row batches', large)
    const [smallOn, smallOff] = cases('1k-row batches', small)
    return {
      cases: [largeOn, largeOff, smallOn, smallOff],
      comparisons: [
        { title: 'monitoring on vs off, 100k-row batches', subject: largeOn.name, baseline: largeOff.name, target: 0.95 },
        { title: 'monitoring on vs off, 1k-row batches', subject: smallOn.name, baseline: smallOff.name, target: 0.95 },
      ],
    }
  },
}
