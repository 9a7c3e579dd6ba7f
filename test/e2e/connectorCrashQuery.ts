/**
 * A connector query run as a child process by the connector crash storms (`redisStorm.test.ts`, `jetStreamStorm.test.ts`), which kill it
 * with SIGKILL at random moments and restart it until it drains its input:
 *
 *   node --import tsx test/e2e/connectorCrashQuery.ts redis <redisUrl> <inKey> <partitions> <outKey> <checkpointDir>
 *   node --import tsx test/e2e/connectorCrashQuery.ts jetstream-sink <inputDir> <natsUrl> <subject> <partitions> <checkpointDir>
 *   node --import tsx test/e2e/connectorCrashQuery.ts jetstream-postgres <natsUrl> <stream> <subject> <postgresUrl> <checkpointDir>
 *
 * - `redis`: redisStream (partitioned, a few entries per batch) → map → redisStreamSink, append mode.
 * - `jetstream-sink`: jsonFiles (one file per batch) → jetStreamSink partitioned by the row's key.
 * - `jetstream-postgres`: jetStream (3 partitions, a few messages per batch) → count per key, update mode →
 *   postgresSink into table `counts`.
 * Both run with `trigger.availableNow()`, print `started` once `start()` resolved, exit 0 when everything is
 * committed and 1 on an error.
 */
import * as t from 'io-ts'
import {
  count,
  createSession,
  groupBy,
  jetStream,
  jetStreamSink,
  jsonFiles,
  map,
  postgresSink,
  redisStream,
  redisStreamSink,
  type StreamingQuery,
  trigger,
} from '../../src/index.js'
import { runAsChild } from './childMain.js'

export const StormRow = t.type({ id: t.number, key: t.string, v: t.number })
export type StormRow = t.TypeOf<typeof StormRow>

/** The redis storm's projection, shared with the test that computes the expected output. */
export const project = (r: StormRow) => ({ id: r.id, key: r.key, v2: r.v * 2 })

export { rowMaker } from './inputFiles.js'

/** Rows sorted by id, to compare an output with its input whatever order it arrived in. */
export const byId = <R extends { id: number }>(rows: readonly R[]): R[] => [...rows].sort((a, b) => a.id - b.id)

async function main(argv: readonly string[]): Promise<void> {
  const [mode, a, b, c, d, checkpointDir] = argv
  if ((mode !== 'redis' && mode !== 'jetstream-sink' && mode !== 'jetstream-postgres') || !a || !b || !c || !d || !checkpointDir) {
    throw new Error('usage: connectorCrashQuery.ts <redis|jetstream-sink> … (see the file header)')
  }
  const session = createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
  let query: StreamingQuery
  if (mode === 'redis') {
    query = await session
      .readStream(redisStream({ url: a, key: b, partitions: Number(c), codec: StormRow, maxEntriesPerTrigger: 40 }))
      .pipe(map(project))
      .writeStream({ outputMode: 'append', sink: redisStreamSink({ url: a, key: d }), checkpointLocation: checkpointDir, trigger: trigger.availableNow() })
      .start()
  } else if (mode === 'jetstream-postgres') {
    query = await createSession({ shufflePartitions: 3, snapshotInterval: 3, minBatchesToRetain: 4, warn: (m) => process.stderr.write(`${m}\n`) })
      .readStream(jetStream({ servers: a, stream: b, subject: c, partitions: 3, codec: StormRow, maxMessagesPerTrigger: 40 }))
      .pipe(groupBy((r: StormRow) => r.key, t.string), count())
      .writeStream({ outputMode: 'update', sink: postgresSink({ connectionString: d, table: 'counts' }), checkpointLocation: checkpointDir, trigger: trigger.availableNow() })
      .start()
  } else {
    query = await session
      .readStream(jsonFiles(a, { codec: StormRow, maxFilesPerTrigger: 1 }))
      .writeStream({
        outputMode: 'append',
        sink: jetStreamSink({ servers: b, subject: c, partitions: Number(d), partitionBy: [(r: StormRow) => r.key, t.string] }),
        checkpointLocation: checkpointDir,
        trigger: trigger.availableNow(),
      })
      .start()
  }
  process.stdout.write('started\n')
  await query.awaitTermination()
}

runAsChild(import.meta.url, main)
