/**
 * Real-process crash storms on the JetStream sink: the query runs in a child process (`connectorCrashQuery.ts`)
 * against a real nats-server, is killed with SIGKILL at least 20 times at random moments and
 * restarted on the same checkpoint, while new input keeps arriving; the output must then hold every input row
 * exactly once. The seed (printed) fixes the input and the kill delays: `SRX_SIGKILL_SEED=<seed>` replays them,
 * though where a kill lands also depends on the machine's speed. Each run starts a Node process, so on a loaded
 * machine a storm takes minutes: the timeout is generous on purpose.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { startNats } from '../support/servers/nats.js'
import { byId, type StormRow } from './connectorCrashQuery.js'
import { InputFiles } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'

const script = join(import.meta.dirname, 'connectorCrashQuery.ts')
const PARTITIONS = 3
const cleanup = useStormCleanups()

describe('a connector query killed with SIGKILL at random moments and restarted until it drains', () => {
  it('jsonFiles → jetStreamSink (partitioned by key) publishes every row exactly once, in its key partition', async () => {
    const random = stormRandom()
    const server = await startNats()
    cleanup(() => server.close())
    const client = await natsTestClient(server.url)
    cleanup(() => client.close())
    await client.addStream('OUT', ['out.*'])
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-nats-'))
    cleanup(() => rm(root, { recursive: true, force: true }))
    const inputDir = join(root, 'input')
    await mkdir(inputDir)
    const input = new InputFiles(inputDir, random.next, 40)
    await input.addFiles(40)
    await runStorm(
      'jetstream sink',
      {
        script,
        args: ['jetstream-sink', inputDir, server.url, 'out', String(PARTITIONS), join(root, 'checkpoint')],
        minKills: 20,
        topUp: () => input.addFiles(15),
      },
      random,
      () => input.rows.length,
    )
    const messages = await client.read('OUT', 'out.*')
    const output = messages.map((m) => JSON.parse(m.text) as StormRow)
    expect(output.length).toBe(input.rows.length)
    expect(byId(output)).toEqual(input.rows)
    for (const m of messages) {
      expect(m.subject).toBe(`out.${partitionOf(keyIdOf((JSON.parse(m.text) as StormRow).key), PARTITIONS)}`)
    }
  }, 480_000)
})
