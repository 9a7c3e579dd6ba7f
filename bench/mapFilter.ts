/**
 * stateless map + filter: the group-by-count rows through `map(r => ({ ...r, v2: r.v * 2 }))` and
 * `filter(r => r.v2 % 3 !== 0)` in 'append' mode, against the same map + filter as a hand loop into one output
 * array per batch.
 */
import { filter, map } from '../src/index.js'
import { chunks, generateRows, type Row } from './data.js'
import { type BenchGroup, simpleCase } from './harness.js'
import { queryCase } from './query.js'

const ROWS = 1_000_000
const KEYS = 1_000
const BATCH = 100_000

const ENGINE = "engine map+filter, 'append'"
const HAND_LOOP = 'hand loop into arrays'

export const mapFilterGroup: BenchGroup = {
  name: 'map-filter',
  description: `${ROWS.toLocaleString('en')} rows, ${ROWS / BATCH} batches of ${BATCH.toLocaleString('en')}, map (object spread) + filter`,
  prepare() {
    const batches = chunks(generateRows({ count: ROWS, keys: KEYS, seed: 1 }), BATCH)
    return {
      cases: [
        queryCase<Row, Row & { v2: number }>({
          name: ENGINE,
          batches,
          shufflePartitions: 8,
          outputMode: 'append',
          query: (input) =>
            input.pipe(
              map((r) => ({ ...r, v2: r.v * 2 })),
              filter((r) => r.v2 % 3 !== 0),
            ),
          checksum: (_lastBatch, outputRows) => outputRows,
        }),
        simpleCase(HAND_LOOP, ROWS, () => {
          let outputRows = 0
          for (const batch of batches) {
            const out: (Row & { v2: number })[] = []
            for (const r of batch) {
              const m = { ...r, v2: r.v * 2 }
              if (m.v2 % 3 !== 0) out.push(m)
            }
            outputRows += out.length
          }
          return outputRows
        }),
      ],
      comparisons: [{ title: 'map+filter vs hand loop', subject: ENGINE, baseline: HAND_LOOP, target: 0.7 }],
    }
  },
}
