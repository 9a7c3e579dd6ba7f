/**
 * A query run as a child process by the source restart test (`sourceRestart.test.ts`):
 *
 *   node --import tsx test/e2e/fileQuery.ts <inputDir> <outDir> <checkpointDir> [--ignore-missing-files] [--hang-in-sink]
 *
 * It reads `jsonFiles(inputDir)` rows `{ id }` with `trigger.availableNow()` into `jsonFilesSink(outDir)` and exits 0
 * when everything is committed, 1 with the error on stderr. `--hang-in-sink` never completes a batch, so the
 * parent can kill the process once the batch is logged.
 */
import * as t from 'io-ts'
import { createSession, jsonFiles, jsonFilesSink, type Sink, trigger } from '../../src/index.js'
import { runAsChild } from './childMain.js'

async function main(argv: readonly string[]): Promise<void> {
  const [inputDir, outDir, checkpointDir] = argv
  if (!inputDir || !outDir || !checkpointDir) {
    throw new Error('usage: fileQuery.ts <inputDir> <outDir> <checkpointDir> [--ignore-missing-files] [--hang-in-sink]')
  }
  const files = jsonFilesSink(outDir)
  const sink: Sink<unknown> = {
    description: files.description,
    async open(ctx) {
      const writer = await files.open(ctx)
      return {
        async addBatch(batchId, rows) {
          if (argv.includes('--hang-in-sink')) await new Promise(() => {})
          await writer.addBatch(batchId, rows)
        },
      }
    },
  }
  const query = await createSession()
    .readStream(jsonFiles(inputDir, { codec: t.type({ id: t.number }), ignoreMissingFiles: argv.includes('--ignore-missing-files') }))
    .writeStream({ outputMode: 'append', sink, checkpointLocation: checkpointDir, trigger: trigger.availableNow() })
    .start()
  await query.awaitTermination()
}

runAsChild(import.meta.url, main)
