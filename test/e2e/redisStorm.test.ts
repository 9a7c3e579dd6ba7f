/**
 * Real-process crash storms on the Redis stream connectors: the query runs in a child process (`connectorCrashQuery.ts`)
 * against a real redis-server, is killed with SIGKILL at least 20 times at random moments and
 * restarted on the same checkpoint, while new input keeps arriving; the output must then hold every input row
 * exactly once. The seed (printed) fixes the input and the kill delays: `SRX_SIGKILL_SEED=<seed>` replays them,
 * though where a kill lands also depends on the machine's speed. Each run starts a Node process, so on a loaded
 * machine a storm takes minutes: the timeout is generous on purpose.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { startRedis } from '../support/servers/redis.js'
import { byId, project, type StormRow } from './connectorCrashQuery.js'
import { rowMaker } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'

const script = join(import.meta.dirname, 'connectorCrashQuery.ts')
const PARTITIONS = 3
const cleanup = useStormCleanups()

describe('a connector query killed with SIGKILL at random moments and restarted until it drains', () => {
  it('redisStream → map → redisStreamSink writes every row exactly once', async () => {
    const random = stormRandom()
    const server = await startRedis()
    cleanup(() => server.close())
    const redis = new Redis(server.url)
    cleanup(() => redis.disconnect())
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-redis-'))
    cleanup(() => rm(root, { recursive: true, force: true }))
    const makeRows = rowMaker(random.next)
    const input: StormRow[] = []
    const addInput = async (count: number) => {
      const rows = makeRows(count)
      const pipe = redis.pipeline()
      for (const r of rows) pipe.xadd(`in:${Math.floor(random.next() * PARTITIONS)}`, '*', 'value', JSON.stringify(r))
      await pipe.exec()
      input.push(...rows)
    }
    await addInput(1500)
    await runStorm(
      'redis',
      {
        script,
        args: ['redis', server.url, 'in', String(PARTITIONS), 'out', join(root, 'checkpoint')],
        minKills: 20,
        topUp: () => addInput(600),
      },
      random,
      () => input.length,
    )
    const output = (await redis.xrange('out', '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('value') + 1]!) as ReturnType<typeof project>)
    expect(output.length).toBe(input.length)
    expect(byId(output)).toEqual(input.map(project))
  }, 480_000)
})
