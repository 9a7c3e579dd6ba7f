/**
 * One member of a cluster, run as a child process by `cluster.e2e.test.ts`:
 *
 *   node --import tsx test/e2e/clusterMember.ts <redis|nats> <natsUrl> <redisUrl> <checkpointDir> <ttlMs>
 *
 * It reads the partitioned JetStream `IN` (subjects `in.<p>`), counts rows per key (update mode) into the Redis
 * stream `counts`, and shares the query's tasks with every process started alike, through a coordinator on Redis or
 * on NATS JetStream KV. It prints `tasks <p,…>` whenever the tasks it runs change, and stops cleanly on SIGTERM.
 */
import { pathToFileURL } from 'node:url'
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

export const ClusterRow = t.type({ id: t.number, key: t.string })
export type ClusterRow = t.TypeOf<typeof ClusterRow>
export const CLUSTER_PARTITIONS = 4

async function main(argv: readonly string[]): Promise<void> {
  const [kind, natsUrl, redisUrl, checkpointDir, ttl] = argv
  if ((kind !== 'redis' && kind !== 'nats') || !natsUrl || !redisUrl || !checkpointDir || !ttl) {
    throw new Error('usage: clusterMember.ts <redis|nats> <natsUrl> <redisUrl> <checkpointDir> <ttlMs>')
  }
  const ttlMs = Number(ttl)
  const coordinator = kind === 'redis' ? redisCoordinator(redisUrl, { ttlMs }) : natsCoordinator(natsUrl, { ttlMs })
  const session = createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
  const query = (await session
    .readStream(jetStream({ servers: natsUrl, stream: 'IN', subject: 'in', partitions: CLUSTER_PARTITIONS, codec: ClusterRow, maxMessagesPerTrigger: 50 }))
    .pipe(groupBy((r: ClusterRow) => r.key, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: redisStreamSink({ url: redisUrl, key: 'counts' }),
      checkpointLocation: checkpointDir,
      cluster: { name: 'e2e', coordinator, heartbeatMs: Math.max(50, Math.floor(ttlMs / 5)) },
    })
    .start()) as ClusterQuery
  process.stdout.write(`member ${query.member}\n`)
  let shown = ''
  const show = setInterval(() => {
    const now = query.runningTasks.join(',')
    if (now !== shown) process.stdout.write(`tasks ${(shown = now)}\n`)
  }, 50)
  process.once('SIGTERM', () => void query.stop())
  await query.awaitTermination().finally(() => clearInterval(show))
  await coordinator.close()
}

// Only when run as the child process, not when the test imports the names above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    },
  )
}
