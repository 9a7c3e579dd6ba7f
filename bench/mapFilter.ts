/**
 * stateless map + filter: the group-by-count rows through `map(r => ({ ...r, v2: r.v * 2 }))` and
 * `filter(r => r.v2 % 3 !== 0)` in 'append' mode, against the same map + filter as a hand loop into one output
 * array per batch, which it keeps until the next batch's as the engine's benchmark sink keeps its last batch.
 *
 * On Node 20 (V8 11.3) `{ ...r, v2 }` gives every result object a hidden class of its own, which costs more than a
 * microsecond per row and hides the engine's own cost; so the same query with an object literal
 * (`{ key: r.key, v: r.v, v2: r.v * 2 }`) is a second group. Two groups, not one, so that the spread group's garbage
 * (a hidden class per row) is collected in its own rounds, not in the literal group's.
 */
import { filter, map, type Stream } from '../src/index.js'
import { chunks, generateRows, type Row } from './data.js'
import { type BenchGroup, simpleCase } from './harness.js'
import { queryCase } from './query.js'

const ROWS = 1_000_000
const KEYS = 1_000
const BATCH = 100_000

type Out = Row & { v2: number }

/** One map + filter group: the query through the engine, and `handLoop` (one batch into a new array) as baseline. */
function mapFilterGroup(spec: {
  readonly name: string
  readonly description: string
  readonly query: (input: Stream<Row>) => Stream<Out>
  readonly handLoop: (batch: readonly Row[]) => Out[]
}): BenchGroup {
  const engine = `engine ${spec.name}, 'append'`
  const handLoop = `hand loop ${spec.name}`
  return {
    name: spec.name,
    description: `${ROWS.toLocaleString('en')} rows, ${ROWS / BATCH} batches of ${BATCH.toLocaleString('en')}, ${spec.description}`,
    prepare() {
      const batches = chunks(generateRows({ count: ROWS, keys: KEYS, seed: 1 }), BATCH)
      return {
        cases: [
          queryCase<Row, Out>({
            name: engine,
            batches,
            shufflePartitions: 8,
            outputMode: 'append',
            query: spec.query,
            checksum: (_lastBatch, outputRows) => outputRows,
          }),
          simpleCase(handLoop, ROWS, () => {
            // Like the engine's sink (bench/query.ts), the loop keeps each batch's output until the next one is made:
            // a young-generation collection then copies it as it copies the engine's, which is most of both costs.
            let outputRows = 0
            let kept: Out[] = []
            for (const batch of batches) {
              kept = spec.handLoop(batch)
              outputRows += kept.length
            }
            return outputRows
          }),
        ],
        comparisons: [{ title: `${spec.name} vs hand loop`, subject: engine, baseline: handLoop, target: 0.7 }],
      }
    },
  }
}

// Each group has its own function literals, as separate user code would: shared ones would see the spread rows'
// one-off hidden classes and turn megamorphic for the literal rows too.

/** The benchmark: `map(r => ({ ...r, v2: r.v * 2 }))`. */
export const mapSpreadFilterGroup = mapFilterGroup({
  name: 'map(spread)+filter',
  description: 'map(r => ({ ...r, v2: r.v * 2 })) + filter(r => r.v2 % 3 !== 0)',
  query: (input) =>
    input.pipe(
      map((r) => ({ ...r, v2: r.v * 2 })),
      filter((r) => r.v2 % 3 !== 0),
    ),
  handLoop: (batch) => {
    const out: Out[] = []
    for (const r of batch) {
      const m = { ...r, v2: r.v * 2 }
      if (m.v2 % 3 !== 0) out.push(m)
    }
    return out
  },
})

/** The same with an object literal, which leaves the engine's own cost visible. */
export const mapLiteralFilterGroup = mapFilterGroup({
  name: 'map(literal)+filter',
  description: 'map(r => ({ key: r.key, v: r.v, v2: r.v * 2 })) + filter(r => r.v2 % 3 !== 0)',
  query: (input) =>
    input.pipe(
      map((r) => ({ key: r.key, v: r.v, v2: r.v * 2 })),
      filter((r) => r.v2 % 3 !== 0),
    ),
  handLoop: (batch) => {
    const out: Out[] = []
    for (const r of batch) {
      const m = { key: r.key, v: r.v, v2: r.v * 2 }
      if (m.v2 % 3 !== 0) out.push(m)
    }
    return out
  },
})
