/**
 * One member of a cluster running a repartitioned query, run as a child process by `repartitionCluster.e2e.test.ts`:
 *
 *   node --import tsx test/e2e/repartitionClusterMember.ts <inputDir> <natsUrl> <redisUrl> <checkpointDir> <ttlMs>
 *
 * jsonFiles (one file per batch, not partitioned by key) → repartition by key through JetStream subjects
 * `bykey.<p>` (stream BYKEY, 3 partitions) → count per key, update mode → the Redis stream `counts`. The members
 * share part one (task 3) and part two's tasks (0-2) through a coordinator on Redis. It prints `tasks <i,…>` whenever
 * the tasks it runs change, and stops cleanly on SIGTERM.
 */
import * as t from 'io-ts'
import { type ClusterQuery, count, createSession, groupBy, jetStreamPartitions, jsonFiles, redisCoordinator, redisStreamSink, repartition } from '../../src/index.js'
import { runAsChild, runMember } from './childMain.js'
import { RepartitionRow, VIA_PARTITIONS } from './repartitionCrashQuery.js'

async function main(argv: readonly string[]): Promise<void> {
  const [inputDir, natsUrl, redisUrl, checkpointDir, ttl] = argv
  if (!inputDir || !natsUrl || !redisUrl || !checkpointDir || !ttl) {
    throw new Error('usage: repartitionClusterMember.ts <inputDir> <natsUrl> <redisUrl> <checkpointDir> <ttlMs>')
  }
  const ttlMs = Number(ttl)
  const coordinator = redisCoordinator(redisUrl, { ttlMs })
  const via = jetStreamPartitions({
    servers: natsUrl, stream: 'BYKEY', subject: 'bykey', partitions: VIA_PARTITIONS, codec: RepartitionRow, maxMessagesPerTrigger: 60,
  })
  const query = (await createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
    .readStream(jsonFiles(inputDir, { codec: RepartitionRow, maxFilesPerTrigger: 1 }))
    .pipe(repartition((r: RepartitionRow) => r.key, t.string, { via }), groupBy((r: RepartitionRow) => r.key, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: redisStreamSink({ url: redisUrl, key: 'counts' }),
      checkpointLocation: checkpointDir,
      cluster: { name: 'repartition-e2e', coordinator, heartbeatMs: Math.max(50, Math.floor(ttlMs / 5)) },
    })
    .start()) as ClusterQuery
  await runMember(query, coordinator)
}

runAsChild(import.meta.url, main)
