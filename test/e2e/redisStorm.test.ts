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
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { startRedis } from '../support/servers/redis.js'
import { byId, project, rowMaker, type StormRow } from './connectorCrashQuery.js'
import { crashStorm, killStormChildren, seededRandom, stormSeed } from './killLoop.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '..', '..')
const script = join(here, 'connectorCrashQuery.ts')
const MIN_KILLS = 20
const PARTITIONS = 3


const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  killStormChildren()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('a connector query killed with SIGKILL at random moments and restarted until it drains', () => {
  it('redisStream → map → redisStreamSink writes every row exactly once', async () => {
    const seed = stormSeed()
    const next = seededRandom(seed)
    const server = await startRedis()
    cleanups.push(() => server.close())
    const redis = new Redis(server.url)
    cleanups.push(async () => redis.disconnect())
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-redis-'))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    const makeRows = rowMaker(next)
    const input: StormRow[] = []
    const addInput = async (count: number) => {
      const rows = makeRows(count)
      const pipe = redis.pipeline()
      for (const r of rows) pipe.xadd(`in:${Math.floor(next() * PARTITIONS)}`, '*', 'value', JSON.stringify(r))
      await pipe.exec()
      input.push(...rows)
    }
    await addInput(1500)
    const run = await crashStorm(
      {
        script,
        args: ['redis', server.url, 'in', String(PARTITIONS), 'out', join(root, 'checkpoint')],
        cwd: repoRoot,
        minKills: MIN_KILLS,
        maxKillDelayMs: 300,
        startupKillShare: 0.2,
        topUp: () => addInput(600),
      },
      next,
    )
    console.log(`storm redis: seed=${seed} runs=${run.runs} kills=${run.kills} (${run.killsWhileRunning} after start) input=${input.length}; ${run.delays.join(' ')}`)
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const output = (await redis.xrange('out', '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('value') + 1]!) as ReturnType<typeof project>)
    expect(output.length).toBe(input.length)
    expect(byId(output)).toEqual(input.map(project))
  }, 480_000)

})
