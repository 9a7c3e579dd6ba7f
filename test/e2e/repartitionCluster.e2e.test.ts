/**
 * A repartitioned query in a cluster of real processes on loopback (`repartitionClusterMember.ts`): JSON files →
 * repartition through JetStream partitions on a real nats-server → count per key into a Redis stream, the tasks
 * leased through a coordinator on a real redis-server. The member running part one is killed with SIGKILL while part
 * one is mid-way through the input: another member takes part one over and resumes from its checkpoint. Every input
 * row must be in the repartition stream exactly once, and every key's count exact. Times are printed, not asserted:
 * the machine is shared.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { covered, memberProcesses } from './clusterProcesses.js'
import { InputFiles } from './inputFiles.js'
import { type RepartitionRow, VIA_PARTITIONS as P } from './repartitionCrashQuery.js'

const script = join(import.meta.dirname, 'repartitionClusterMember.ts')
const TTL = 3_000
/** Part one is the task after part two's P tasks. */
const PART_ONE = P
const { start, until, brokers } = memberProcesses()

describe('a repartitioned query shared by a cluster of processes', () => {
  it('the member running part one is killed with SIGKILL mid-way; another takes part one over and every row is repartitioned and counted exactly once', async () => {
    const { natsUrl, redisUrl, client, redis, root } = await brokers('srx-repartition-cluster-e2e-', { BYKEY: ['bykey.*'] })
    const inputDir = join(root, 'input')
    await mkdir(inputDir)
    let seed = 1
    const input = new InputFiles(inputDir, () => ((seed = (seed * 48271) % 2147483647) / 2147483647), 20)
    await input.addFiles(60)
    const args = [inputDir, natsUrl, redisUrl, join(root, 'checkpoint'), String(TTL)]
    const members = [start(script, args), start(script, args), start(script, args)]
    await until('the three members run all tasks', () => covered(members, P + 1) && members.every((m) => m.tasks.length > 0))
    const repartitioned = async () => (await client.read('BYKEY', 'bykey.*')).map((m) => ({ subject: m.subject, row: JSON.parse(m.text) as RepartitionRow }))
    // One file per batch: part one is still mid-way through the input when it has written a few files' rows.
    await until('part one has written some rows', async () => (await repartitioned()).length >= 60)
    const victim = members.find((m) => m.tasks.includes(PART_ONE))!
    victim.child.kill('SIGKILL')
    const killedAt = Date.now()
    const writtenBefore = (await repartitioned()).length
    const rest = members.filter((m) => m !== victim)
    await until('another member took part one over', () => covered(rest, P + 1))
    console.log(`repartition cluster e2e: part one moved ${Date.now() - killedAt} ms after the kill (lease TTL ${TTL} ms), ${writtenBefore} of ${input.rows.length} rows repartitioned by then`)
    expect(writtenBefore).toBeLessThan(input.rows.length)
    await input.addFiles(20)
    const expected = new Map<string, number>()
    for (const r of input.rows) expected.set(r.key, (expected.get(r.key) ?? 0) + 1)
    const counts = async () => {
      const rows = (await redis.xrange('counts', '-', '+')).map(([, fields]) => JSON.parse(fields[1]!) as { key: string; count: number })
      const last = new Map<string, number>()
      for (const r of rows) last.set(r.key, Math.max(last.get(r.key) ?? 0, r.count))
      const pairs = rows.map((r) => `${r.key}:${r.count}`)
      return { counts: Object.fromEntries([...last].sort()), duplicates: pairs.length - new Set(pairs).size }
    }
    const want = Object.fromEntries([...expected].sort())
    await until('the counts are complete', async () => JSON.stringify((await counts()).counts) === JSON.stringify(want))
    const out = await counts()
    expect(out).toEqual({ counts: want, duplicates: 0 })
    const written = await repartitioned()
    const ids = written.map((m) => m.row.id).sort((a, b) => a - b)
    const lost = input.rows.filter((r) => !ids.includes(r.id)).length
    console.log(`repartition cluster e2e: ${input.rows.length} input rows, ${ids.length} repartitioned, lost ${lost}, duplicated ${ids.length - new Set(ids).size}`)
    expect(ids).toEqual(input.rows.map((r) => r.id))
    for (const m of written) expect(m.subject).toBe(`bykey.${partitionOf(keyIdOf(m.row.key), P)}`)
    for (const m of rest) m.child.kill('SIGTERM')
    expect(await Promise.all(rest.map((m) => m.exited))).toEqual([0, 0])
  }, 300_000)
})
