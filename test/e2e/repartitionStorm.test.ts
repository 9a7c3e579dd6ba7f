/**
 * A repartitioned query killed with SIGKILL at random moments — most while part one writes the input into its key
 * partitions, some while the tasks of part two count — and restarted on the same checkpoint until it drains, against a
 * real nats-server: every input row is in the repartition stream exactly once, in its key's partition, and the counts
 * are exact. The seed (printed) replays input and kill delays: `SRX_SIGKILL_SEED=<seed>`.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { startNats } from '../support/servers/nats.js'
import { InputFiles } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'
import { type RepartitionRow, VIA_PARTITIONS } from './repartitionCrashQuery.js'

const script = join(import.meta.dirname, 'repartitionCrashQuery.ts')
const cleanup = useStormCleanups()

describe('a repartitioned query killed with SIGKILL at random moments and restarted until it drains', () => {
  it('writes every row exactly once into its key partition and counts every key exactly', async () => {
    const random = stormRandom()
    const server = await startNats()
    cleanup(() => server.close())
    const client = await natsTestClient(server.url)
    cleanup(() => client.close())
    await client.addStream('BYKEY', ['bykey.*'])
    await client.addStream('COUNTS', ['counts'])
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-repartition-'))
    cleanup(() => rm(root, { recursive: true, force: true }))
    const inputDir = join(root, 'input')
    await mkdir(inputDir)
    const input = new InputFiles(inputDir, random.next, 30)
    await input.addFiles(30)
    await runStorm(
      'repartition',
      { script, args: [inputDir, server.url, join(root, 'checkpoint')], minKills: 10, topUp: () => input.addFiles(10) },
      random,
      () => input.rows.length,
    )
    const repartitioned = await client.read('BYKEY', 'bykey.*')
    const ids = repartitioned.map((m) => (JSON.parse(m.text) as RepartitionRow).id).sort((a, b) => a - b)
    const lost = input.rows.filter((r) => !ids.includes(r.id)).length
    const duplicated = ids.length - new Set(ids).size
    console.log(`repartition storm: ${input.rows.length} input rows, ${ids.length} repartitioned, lost ${lost}, duplicated ${duplicated}`)
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 })
    expect(ids).toEqual(input.rows.map((r) => r.id))
    for (const m of repartitioned) {
      expect(m.subject).toBe(`bykey.${partitionOf(keyIdOf((JSON.parse(m.text) as RepartitionRow).key), VIA_PARTITIONS)}`)
    }
    const expected = new Map<string, number>()
    for (const r of input.rows) expected.set(r.key, (expected.get(r.key) ?? 0) + 1)
    const counted = new Map<string, number>()
    for (const m of await client.read('COUNTS', 'counts')) {
      const row = JSON.parse(m.text) as { key: string; count: number }
      counted.set(row.key, Math.max(counted.get(row.key) ?? 0, row.count))
    }
    expect(Object.fromEntries([...counted].sort())).toEqual(Object.fromEntries([...expected].sort()))
  }, 480_000)
})
