/**
 * Real-process crash storms on the JetStream sink: the query runs in a child process (`connectorCrashQuery.ts`)
 * against a real nats-server, is killed with SIGKILL at least 20 times at random moments and
 * restarted on the same checkpoint, while new input keeps arriving; the output must then hold every input row
 * exactly once. The seed (printed) fixes the input and the kill delays: `SRX_SIGKILL_SEED=<seed>` replays them,
 * though where a kill lands also depends on the machine's speed. Each run starts a Node process, so on a loaded
 * machine a storm takes minutes: the timeout is generous on purpose.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { startNats } from '../support/servers/nats.js'
import { byId, rowMaker, type StormRow } from './connectorCrashQuery.js'
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
  it('jsonFiles → jetStreamSink (partitioned by key) publishes every row exactly once, in its key partition', async () => {
    const seed = stormSeed()
    const next = seededRandom(seed)
    const server = await startNats()
    cleanups.push(() => server.close())
    const client = await natsTestClient(server.url)
    cleanups.push(() => client.close())
    await client.addStream('OUT', ['out.*'])
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-nats-'))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    const inputDir = join(root, 'input')
    await mkdir(inputDir)
    const makeRows = rowMaker(next)
    const input: StormRow[] = []
    let files = 0
    const addFiles = async (count: number) => {
      for (let f = 0; f < count; f++) {
        const rows = makeRows(40)
        // Written under a dot name and renamed, so the running query never lists a half-written file.
        const name = `part-${String(files++).padStart(5, '0')}.json`
        await writeFile(join(inputDir, `.${name}`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
        await rename(join(inputDir, `.${name}`), join(inputDir, name))
        input.push(...rows)
      }
    }
    await addFiles(40)
    const run = await crashStorm(
      {
        script,
        args: ['jetstream-sink', inputDir, server.url, 'out', String(PARTITIONS), join(root, 'checkpoint')],
        cwd: repoRoot,
        minKills: MIN_KILLS,
        maxKillDelayMs: 300,
        startupKillShare: 0.2,
        topUp: () => addFiles(15),
      },
      next,
    )
    console.log(`storm jetstream sink: seed=${seed} runs=${run.runs} kills=${run.kills} (${run.killsWhileRunning} after start) input=${input.length}; ${run.delays.join(' ')}`)
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const messages = await client.read('OUT', 'out.*')
    const output = messages.map((m) => JSON.parse(m.text) as StormRow)
    expect(output.length).toBe(input.length)
    expect(byId(output)).toEqual(input)
    for (const m of messages) {
      expect(m.subject).toBe(`out.${partitionOf(keyIdOf((JSON.parse(m.text) as StormRow).key), PARTITIONS)}`)
    }
  }, 480_000)
})
