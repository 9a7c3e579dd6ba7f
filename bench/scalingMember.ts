/**
 * One member of the scaling benchmark's cluster, run as a child process by `bench/scaling.ts`:
 *
 *   node .bench-build/bench/scalingMember.js <redisUrl> <cluster> <input> <output> <checkpoint>
 *
 * It runs the benchmark's windowed count over the partitioned input as a member of `cluster` (coordinated on Redis)
 * and answers its parent on stdin/stdout: it prints `tasks <p,…>` whenever the tasks it runs change; on `drain` it
 * processes everything available to its tasks and prints `drained`; on `stop` it stops, leaves, and exits.
 */
import { createInterface } from 'node:readline'
import { type ClusterQuery, createSession, jsonFilesSink, redisCoordinator } from '../src/index.js'
import { runAsChild } from '../test/e2e/childMain.js'
import { windowedCountsOf } from '../test/scale/fixtures/windowedCounts.js'

/** Long enough that a loaded machine never lets a lease lapse mid-run; members balance through the heartbeat. */
const TTL_MS = 10_000
const HEARTBEAT_MS = 200

async function main(argv: readonly string[]): Promise<void> {
  const [redisUrl, cluster, input, output, checkpoint, partitions] = argv
  if (!redisUrl || !cluster || !input || !output || !checkpoint || !partitions) {
    throw new Error('usage: scalingMember.js <redisUrl> <cluster> <input> <output> <checkpoint> <partitions>')
  }
  const coordinator = redisCoordinator(redisUrl, { ttlMs: TTL_MS })
  const session = createSession({ warn: (m) => process.stderr.write(`${m}\n`) })
  const query = (await windowedCountsOf(session, { input, partitions: Number(partitions) })
    .writeStream({
      outputMode: 'append',
      sink: jsonFilesSink(output),
      checkpointLocation: checkpoint,
      cluster: { name: cluster, coordinator, heartbeatMs: HEARTBEAT_MS },
    })
    .start()) as ClusterQuery
  let shown: string | undefined
  const show = setInterval(() => {
    const now = query.runningTasks.join(',')
    if (now !== shown) process.stdout.write(`tasks ${(shown = now)}\n`)
  }, 20)
  const commands = createInterface({ input: process.stdin })
  commands.on('line', (line) => {
    if (line === 'drain') {
      query.processAllAvailable().then(
        () => process.stdout.write('drained\n'),
        (e: unknown) => process.stdout.write(`failed ${(e as Error).message}\n`),
      )
    } else if (line === 'stop') void query.stop()
  })
  try {
    await query.awaitTermination()
  } finally {
    clearInterval(show)
    commands.close()
    await coordinator.close()
  }
}

runAsChild(import.meta.url, main)
