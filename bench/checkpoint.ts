/**
 * Checkpoint benchmarks: the cost of checkpointing a group-by-count and the throughput of the `jsonFiles` source, each
 * against a baseline measured in the same run (restarts are in `restart.ts`).
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import {
  count,
  createSession,
  foreachBatch,
  groupBy,
  jsonFiles,
  memorySource,
  trigger,
} from '../src/index.js'
import { CURRENT_FORMAT_VERSION } from '../src/durable/format.js'
import { generateRows, mulberry32, type Row } from './data.js'
import { type BenchGroup, phasedCase, simpleCase } from './harness.js'

const scratch = mkdtempSync(join(tmpdir(), 'srx-bench-'))
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }))
let dirs = 0
const freshDir = (prefix: string) => join(scratch, `${prefix}-${dirs++}`)

/** Σ count × (1 + key number) of the last batch's rows (every key occurs in every batch). */
function countsChecksum(rows: readonly { key: string; count: number }[]): number {
  let sum = 0
  for (const { key, count } of rows) sum += count * (1 + Number(key.slice('key-'.length)))
  return sum
}

/**
 * A group-by-count draining a backlog of `rows` in back-to-back micro-batches of `batchRows` (the source's
 * maxRowsPerTrigger), with or without a checkpoint location (a new one per repetition).
 */
function groupByCountCase(name: string, rows: readonly Row[], batchRows: number, checkpoint: boolean) {
  return phasedCase(name, rows.length, {
    async setup() {
      const input = memorySource<Row>({ maxRowsPerTrigger: batchRows })
      let last: readonly { key: string; count: number }[] = []
      const query = await createSession({ shufflePartitions: 8 })
        .readStream(input.source)
        .pipe(groupBy((r: Row) => r.key, t.string), count())
        .writeStream({
          outputMode: 'update',
          sink: foreachBatch<{ key: string; count: number }>((b) => void (last = b)),
          checkpointLocation: checkpoint ? freshDir('ckpt') : undefined,
        })
        .start()
      await query.processAllAvailable()
      return { input, query, last: () => last }
    },
    async run({ input, query, last }) {
      input.addData(rows)
      await query.processAllAvailable()
      if (query.lastProgress?.batchId !== Math.ceil(rows.length / batchRows) - 1) throw new Error(`${name}: unexpected batches`)
      return countsChecksum(last())
    },
    async teardown({ query }) {
      await query.stop()
      if (query.exception) throw query.exception
    },
  })
}

export const checkpointOverheadGroup: BenchGroup = {
  name: 'checkpoint-overhead',
  description:
    'group-by-count draining 1,000,000 rows over 1,000 keys in back-to-back 100,000-row batches, 8 partitions, ' +
    `checkpointed every batch (format v${CURRENT_FORMAT_VERSION}: offsets, state, commit — each fsync + atomic rename) vs in memory`,
  prepare() {
    const rows = generateRows({ count: 1_000_000, keys: 1_000, seed: 7 })
    return {
      cases: [
        groupByCountCase('engine with a checkpoint (fsync every batch)', rows, 100_000, true),
        groupByCountCase('engine without a checkpoint', rows, 100_000, false),
      ],
      comparisons: [
        {
          title: 'checkpoint overhead ≤ 1.25× (rows/s with ≥ 0.8× without)',
          subject: 'engine with a checkpoint (fsync every batch)',
          baseline: 'engine without a checkpoint',
          target: 0.8,
        },
      ],
    }
  },
}

const Activity = t.type({
  Arrival_Time: t.number, Creation_Time: t.number, Device: t.string, Index: t.number, Model: t.string,
  User: t.string, gt: t.string, x: t.number, y: t.number, z: t.number,
})
const FILES = 20
const ROWS_PER_FILE = 10_000

function writeActivityFiles(dir: string): void {
  mkdirSync(dir, { recursive: true })
  const random = mulberry32(11)
  const labels = ['stand', 'sit', 'walk', 'bike', 'stairsup', 'stairsdown', 'null']
  for (let f = 0; f < FILES; f++) {
    const lines: string[] = []
    for (let i = 0; i < ROWS_PER_FILE; i++) {
      lines.push(JSON.stringify({
        Arrival_Time: 1424686735090 + i, Creation_Time: 1424686733090 + i, Device: `nexus4_${i % 4}`, Index: i,
        Model: 'nexus4', User: `user${Math.floor(random() * 9)}`, gt: labels[Math.floor(random() * labels.length)],
        x: random() - 0.5, y: random() - 0.5, z: random() - 0.5,
      }))
    }
    writeFileSync(join(dir, `part-${String(f).padStart(4, '0')}.json`), `${lines.join('\n')}\n`)
  }
}

export const jsonFilesGroup: BenchGroup = {
  name: 'json-files',
  description: `jsonFiles source over ${FILES} files × ${ROWS_PER_FILE.toLocaleString('en')} activity rows (maxFilesPerTrigger 5, codec checked) vs a hand loop with JSON.parse`,
  prepare() {
    const dir = freshDir('activity')
    writeActivityFiles(dir)
    const rows = FILES * ROWS_PER_FILE
    return {
      cases: [
        phasedCase('engine jsonFiles → foreachBatch', rows, {
          setup: () => undefined,
          async run() {
            let n = 0
            const q = await createSession()
              .readStream(jsonFiles(dir, { codec: Activity, maxFilesPerTrigger: 5 }))
              .writeStream({ outputMode: 'append', sink: foreachBatch((b) => void (n += b.length)), trigger: trigger.availableNow() })
              .start()
            await q.awaitTermination()
            return n
          },
        }),
        simpleCase('hand loop: read each file, split lines, JSON.parse', rows, () => {
          let n = 0
          for (const name of readdirSync(dir).sort()) {
            for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
              if (line.length > 0) {
                JSON.parse(line)
                n++
              }
            }
          }
          return n
        }),
      ],
      comparisons: [
        { title: 'jsonFiles ≥ 0.7× a hand JSON.parse loop', subject: 'engine jsonFiles → foreachBatch', baseline: 'hand loop: read each file, split lines, JSON.parse', target: 0.7 },
      ],
    }
  },
}
