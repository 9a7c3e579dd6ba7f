/**
 * The write path where it hurts most: a chain of four stateful operators (three dropDuplicates and a windowed
 * aggregation), so every batch changes the state of four operators, checkpointed every batch against the same query
 * in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { agg, count, createSession, dropDuplicates, foreachBatch, groupBy, memorySource, sum, withWatermark } from '../src/index.js'
import { CURRENT_FORMAT_VERSION } from '../src/durable/format.js'
import { mulberry32 } from './data.js'
import { type BenchGroup, phasedCase } from './harness.js'

// 100,000 events in 10 batches: with 1,000,000 the first dropDuplicates (no `within`, so its state only grows) made one
// repetition take minutes on the 2-core benchmark machine under load, and the group never finished. Both cases run
// the same events, so the ratio still compares four operators' state written per batch against none.
const ROWS = 100_000
const BATCH = 10_000

interface Event {
  readonly id: number
  readonly key: string
  readonly v: number
  readonly ts: number
}

const scratch = mkdtempSync(join(tmpdir(), 'srx-bench-multi-'))
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }))
let dirs = 0

/** `ROWS` events, one per millisecond of event time, over 1,000 keys; about 1% repeat an earlier event's id. */
function generateEvents(): Event[] {
  const random = mulberry32(23)
  const events: Event[] = new Array(ROWS)
  for (let i = 0; i < ROWS; i++) {
    const id = random() < 0.01 && i > 0 ? Math.floor(random() * i) : i
    events[i] = { id, key: `key-${Math.floor(random() * 1000)}`, v: Math.floor(random() * 1000), ts: i }
  }
  return events
}

function chainCase(name: string, events: readonly Event[], checkpoint: boolean) {
  return phasedCase(name, events.length, {
    async setup() {
      const input = memorySource<Event>({ maxRowsPerTrigger: BATCH })
      let total = 0
      const query = await createSession({ shufflePartitions: 8 })
        .readStream(input.source)
        .pipe(
          withWatermark((e: Event) => e.ts, '5 seconds'),
          dropDuplicates((e: Event) => e.id, t.number),
          dropDuplicates((e: Event) => `${e.key}|${e.ts}`, t.string, { within: (e: Event) => e.ts }),
          dropDuplicates((e: Event) => `${e.key}|${e.v}`, t.string, { within: (e: Event) => e.ts }),
          groupBy((e: Event) => e.key, t.string, { window: { time: (e: Event) => e.ts, size: '10 seconds' } }),
          agg({ n: count(), total: sum((e: Event) => e.v) }),
        )
        .writeStream({
          outputMode: 'update',
          sink: foreachBatch<{ n: number }>((rows) => {
            for (const r of rows) total += r.n
          }),
          checkpointLocation: checkpoint ? join(scratch, `ckpt-${dirs++}`) : undefined,
        })
        .start()
      await query.processAllAvailable()
      return { input, query, total: () => total }
    },
    async run({ input, query, total }) {
      input.addData(events)
      await query.processAllAvailable()
      return total()
    },
    async teardown({ query }) {
      await query.stop()
      if (query.exception) throw query.exception
    },
  })
}

export const multiOperatorCheckpointGroup: BenchGroup = {
  name: 'four-operator-checkpoint',
  description:
    `withWatermark + 3 × dropDuplicates + windowed agg(count, sum) over ${ROWS.toLocaleString('en')} events in ` +
    `${BATCH.toLocaleString('en')}-row batches, 8 partitions, checkpoint format v${CURRENT_FORMAT_VERSION} every batch vs in memory`,
  prepare() {
    const events = generateEvents()
    return {
      cases: [chainCase('4 operators with a checkpoint', events, true), chainCase('4 operators in memory', events, false)],
      comparisons: [
        { title: '4-operator chain, checkpointed vs in memory', subject: '4 operators with a checkpoint', baseline: '4 operators in memory', target: 0.8 },
      ],
    }
  },
}
