/**
 * A query run as a child process by the SIGKILL test (`sigkill.test.ts`), which kills it at random moments and
 * restarts it until it drains its input:
 *
 *   node --import tsx test/e2e/crashQuery.ts <stateless|stateful> <inputDir> <outDir> <checkpointDir>
 *
 * It reads `jsonFiles(inputDir)` one file per batch with `trigger.availableNow()`, prints `started` once `start()`
 * resolved (so the parent can time its kill from there), and exits 0 when everything is committed, 1 on an error.
 * - `stateless`: filter + map in append mode into `jsonFilesSink(outDir)`.
 * - `stateful`: a count per key in update mode into `foreachBatch`, which writes each batch's rows atomically to
 *   `<outDir>/batch-<batchId>.json` (a re-run batch overwrites its own file, so the write is idempotent by batchId).
 */
import { join } from 'node:path'
import * as t from 'io-ts'
import {
  count,
  createSession,
  filter,
  foreachBatch,
  groupBy,
  jsonFiles,
  jsonFilesSink,
  map,
  nodeFs,
  type StreamingQuery,
  trigger,
} from '../../src/index.js'
import { runAsChild } from './childMain.js'

export const InputRow = t.type({ id: t.number, key: t.string, v: t.number })
export type InputRow = t.TypeOf<typeof InputRow>

/** The stateless mode's row filter and projection, shared with the test that computes the expected output. */
export const keepRow = (r: InputRow): boolean => r.v % 3 !== 0
export const project = (r: InputRow) => ({ id: r.id, key: r.key, v2: r.v * 2 })

/** The stateful mode's output file for a batch. */
export const batchFileName = (batchId: number): string => `batch-${String(batchId).padStart(6, '0')}.json`

async function main(argv: readonly string[]): Promise<void> {
  const [mode, inputDir, outDir, checkpointDir] = argv
  if ((mode !== 'stateless' && mode !== 'stateful') || !inputDir || !outDir || !checkpointDir) {
    throw new Error('usage: crashQuery.ts <stateless|stateful> <inputDir> <outDir> <checkpointDir>')
  }
  // Small retention settings, so kills also land in snapshots and purges.
  const session = createSession({
    shufflePartitions: 4,
    snapshotInterval: 3,
    minBatchesToRetain: 4,
    warn: (m) => process.stderr.write(`${m}\n`),
  })
  const input = session.readStream(jsonFiles(inputDir, { codec: InputRow, maxFilesPerTrigger: 1 }))
  let query: StreamingQuery
  if (mode === 'stateless') {
    query = await input
      .pipe(filter(keepRow), map(project))
      .writeStream({ outputMode: 'append', sink: jsonFilesSink(outDir), checkpointLocation: checkpointDir, trigger: trigger.availableNow() })
      .start()
  } else {
    query = await input
      .pipe(groupBy((r: InputRow) => r.key, t.string), count())
      .writeStream({
        outputMode: 'update',
        sink: foreachBatch<{ key: string; count: number }>((rows, batchId) =>
          nodeFs.writeFileAtomic(join(outDir, batchFileName(batchId)), JSON.stringify(rows)),
        ),
        checkpointLocation: checkpointDir,
        trigger: trigger.availableNow(),
      })
      .start()
  }
  process.stdout.write('started\n')
  await query.awaitTermination()
}

runAsChild(import.meta.url, main)
