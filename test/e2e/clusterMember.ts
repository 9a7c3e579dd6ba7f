/**
 * One member of a cluster, run as a child process by `cluster.e2e.test.ts`:
 *
 *   node --import tsx test/e2e/clusterMember.ts <redis|nats> <natsUrl> <redisUrl> <checkpointDir> <ttlMs> [library-signals]
 *
 * It reads the partitioned JetStream `IN` (subjects `in.<p>`), counts rows per key (update mode) into the Redis
 * stream `counts`, and shares the query's tasks with every process started alike, through a coordinator on Redis or
 * on NATS JetStream KV. It prints `tasks <p,…>` whenever the tasks it runs change, and stops cleanly on SIGTERM; with
 * `library-signals` it has no signal handler of its own, as a user's script: the library's hands over and ends it.
 */
import * as t from 'io-ts'
import {
  type ClusterQuery,
  count,
  createSession,
  groupBy,
  jetStream,
  natsCoordinator,
  redisCoordinator,
  redisStreamSink,
} from '../../src/index.js'
import { runAsChild, runMember } from './childMain.js'

export const ClusterRow = t.type({ id: t.number, key: t.string })
export type ClusterRow = t.TypeOf<typeof ClusterRow>
export const CLUSTER_PARTITIONS = 4

async function main(argv: readonly string[]): Promise<void> {
  const [kind, natsUrl, redisUrl, checkpointDir, ttl, signals] = argv
  if ((kind !== 'redis' && kind !== 'nats') || !natsUrl || !redisUrl || !checkpointDir || !ttl) {
    throw new Error('usage: clusterMember.ts <redis|nats> <natsUrl> <redisUrl> <checkpointDir> <ttlMs>')
  }
  const ttlMs = Number(ttl)
  const coordinator = kind === 'redis' ? redisCoordinator(redisUrl, { ttlMs }) : natsCoordinator(natsUrl, { ttlMs })
  // Partition p is the subject in.<p>, written with each row's key hashed as partitionBy(key) does.
  const input = jetStream({
    servers: natsUrl, stream: 'IN', subject: 'in', partitions: CLUSTER_PARTITIONS, partitionedBy: 'stableKeyHash', codec: ClusterRow, maxMessagesPerTrigger: 50,
  })
  const session = createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
  const query = (await session
    .readStream(input)
    .pipe(groupBy((r: ClusterRow) => r.key, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: redisStreamSink({ url: redisUrl, key: 'counts' }),
      checkpointLocation: checkpointDir,
      cluster: { name: 'e2e', coordinator, heartbeatMs: Math.max(50, Math.min(600, Math.floor(ttlMs / 5))) },
    })
    .start()) as ClusterQuery
  process.stdout.write(`member ${query.member}\n`)
  await runMember(query, coordinator, { ownSignalHandler: signals !== 'library-signals' })
}

runAsChild(import.meta.url, main)
