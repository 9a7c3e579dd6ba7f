/**
 * A repartitioned query run as a child process by `repartitionStorm.test.ts`, which kills it with SIGKILL at random
 * moments and restarts it until it drains its input:
 *
 *   node --import tsx test/e2e/repartitionCrashQuery.ts <inputDir> <natsUrl> <checkpointDir>
 *
 * jsonFiles (one file per batch, not partitioned by key) → repartition by key through JetStream subjects
 * `bykey.<p>` (3 partitions, stream BYKEY) → count per key, update mode → jetStreamSink on subject `counts`. It runs
 * with `trigger.availableNow()`, prints `started` once `start()` resolved, and exits 0 when both parts committed
 * everything, 1 on an error.
 */
import * as t from 'io-ts'
import { count, createSession, groupBy, jetStreamPartitions, jetStreamSink, jsonFiles, repartition, trigger } from '../../src/index.js'
import { runAsChild } from './childMain.js'

export const RepartitionRow = t.type({ id: t.number, key: t.string, v: t.number })
export type RepartitionRow = t.TypeOf<typeof RepartitionRow>
export const VIA_PARTITIONS = 3

async function main(argv: readonly string[]): Promise<void> {
  const [inputDir, natsUrl, checkpointDir] = argv
  if (!inputDir || !natsUrl || !checkpointDir) throw new Error('usage: repartitionCrashQuery.ts <inputDir> <natsUrl> <checkpointDir>')
  const via = jetStreamPartitions({
    servers: natsUrl, stream: 'BYKEY', subject: 'bykey', partitions: VIA_PARTITIONS, codec: RepartitionRow, maxMessagesPerTrigger: 60,
  })
  const query = await createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
    .readStream(jsonFiles(inputDir, { codec: RepartitionRow, maxFilesPerTrigger: 1 }))
    .pipe(repartition((r: RepartitionRow) => r.key, t.string, { via }), groupBy((r: RepartitionRow) => r.key, t.string), count())
    .writeStream({ outputMode: 'update', sink: jetStreamSink({ servers: natsUrl, subject: 'counts' }), checkpointLocation: checkpointDir, trigger: trigger.availableNow() })
    .start()
  process.stdout.write('started\n')
  await query.awaitTermination()
}

runAsChild(import.meta.url, main)
