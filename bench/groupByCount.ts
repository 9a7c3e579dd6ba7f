/**
 * group-by-count: 1,000,000 rows over 1,000 string keys, fed as 10 micro-batches of 100,000 rows into
 * `groupBy(r => r.key, t.string)` + `count()` on 8 shuffle partitions, against a hand-written Map loop (the limit)
 * and the RxJS pipeline a user would write without structured-rx.
 */
import * as t from 'io-ts'
import { from, groupBy as rxGroupBy, map as rxMap, mergeMap, reduce } from 'rxjs'
import { count, groupBy, type OutputMode } from '../src/index.js'
import { chunks, generateRows, type Row } from './data.js'
import { type BenchGroup, simpleCase } from './harness.js'
import { queryCase } from './query.js'

const ROWS = 1_000_000
const KEYS = 1_000
const BATCH = 100_000
const PARTITIONS = 8

const ENGINE_UPDATE = "engine groupBy+count, 'update'"
const ENGINE_COMPLETE = "engine groupBy+count, 'complete'"
const HAND_LOOP = 'hand loop into a Map'
const RXJS = 'RxJS groupBy/mergeMap/reduce'

/** Σ count × (1 + key number) over the final counts: a wrong count for any key changes it (barring coincidences). */
function countsChecksum(counts: Iterable<{ readonly key: string; readonly count: number }>): number {
  let sum = 0
  for (const { key, count } of counts) sum += count * (1 + Number(key.slice('key-'.length)))
  return sum
}

function* entriesOf(m: Map<string, number>): Iterable<{ key: string; count: number }> {
  for (const [key, count] of m) yield { key, count }
}

export const groupByCountGroup: BenchGroup = {
  name: 'group-by-count',
  description: `${ROWS.toLocaleString('en')} rows, ${KEYS} string keys, ${ROWS / BATCH} batches of ${BATCH.toLocaleString('en')}, ${PARTITIONS} shuffle partitions`,
  prepare() {
    const rows = generateRows({ count: ROWS, keys: KEYS, seed: 1 })
    const batches = chunks(rows, BATCH)
    const engine = (name: string, outputMode: OutputMode) =>
      queryCase<Row, { key: string; count: number }>({
        name,
        batches,
        shufflePartitions: PARTITIONS,
        outputMode,
        query: (input) => input.pipe(groupBy((r) => r.key, t.string), count()),
        // Every key occurs in every batch, so in both modes the last batch holds every key's final count.
        checksum: (lastBatch) => countsChecksum(lastBatch),
      })
    return {
      cases: [
        engine(ENGINE_UPDATE, 'update'),
        engine(ENGINE_COMPLETE, 'complete'),
        simpleCase(HAND_LOOP, ROWS, () => {
          const m = new Map<string, number>()
          for (const batch of batches) {
            for (const r of batch) m.set(r.key, (m.get(r.key) ?? 0) + 1)
          }
          return countsChecksum(entriesOf(m))
        }),
        simpleCase(RXJS, ROWS, () => {
          const out: { key: string; count: number }[] = []
          from(rows)
            .pipe(
              rxGroupBy((r) => r.key),
              mergeMap((g) =>
                g.pipe(
                  reduce((n) => n + 1, 0),
                  rxMap((c) => ({ key: g.key, count: c })),
                ),
              ),
            )
            .subscribe((r) => out.push(r))
          return countsChecksum(out)
        }),
      ],
      comparisons: [
        { title: "group-by-count 'update' vs hand loop", subject: ENGINE_UPDATE, baseline: HAND_LOOP, target: 0.5 },
        { title: "group-by-count 'update' vs RxJS", subject: ENGINE_UPDATE, baseline: RXJS, target: 1 },
        { title: "group-by-count 'complete' vs hand loop", subject: ENGINE_COMPLETE, baseline: HAND_LOOP, target: 0.5 },
        { title: "group-by-count 'complete' vs RxJS", subject: ENGINE_COMPLETE, baseline: RXJS, target: 1 },
      ],
    }
  },
}
