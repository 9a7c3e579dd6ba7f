import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { count, createSession, groupBy, jetStreamPartitions, memorySink, memorySource, partitionedSource, repartition, scaleOutOf } from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'

const Click = t.type({ user: t.string, n: t.number })
type Click = t.TypeOf<typeof Click>
const user = (c: Click) => c.user

const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('a repartitioned query over input partitioned some other way', () => {
  it('runs part one as one task per input partition and still writes every row once into its key partition', async () => {
    await nats.client.addStream('RPIN', ['rpin.*'])
    const via = jetStreamPartitions({ servers: nats.server.url, stream: 'RPIN', subject: 'rpin', partitions: 3, codec: Click })
    // Two input partitions split round robin, so one user's clicks arrive in both.
    const inputs = [memorySource<Click>(), memorySource<Click>()]
    const sink = memorySink<{ key: string; count: number }>()
    const ckpt = await mkdtemp(join(tmpdir(), 'srx-repartition-input-'))
    dirs.push(ckpt)
    const query = await createSession()
      .readStream(partitionedSource(inputs.map((i) => i.source), { by: 'unknown' }))
      .pipe(repartition(user, t.string, { via }), groupBy(user, t.string), count())
      .writeStream({ outputMode: 'update', sink, checkpointLocation: ckpt, queryName: 'clicks' })
      .start()
    try {
      const clicks = Array.from({ length: 60 }, (_, n) => ({ user: `u${n % 7}`, n }))
      clicks.forEach((c, i) => inputs[i % 2]!.addData([c]))
      await query.processAllAvailable()
      const expected: Record<string, number> = {}
      for (const c of clicks) expected[c.user] = (expected[c.user] ?? 0) + 1
      expect(Object.fromEntries(sink.rows().map((r) => [r.key, r.count]))).toEqual(expected)
      expect(scaleOutOf(query)?.tasks).toBe(3)
      // Part one ran as two tasks of its own, one per input partition.
      expect((await readdir(join(ckpt, 'repartition', 'tasks'))).filter((f) => /^\d+$/.test(f)).sort()).toEqual(['0', '1'])
      const messages = await nats.client.read('RPIN', 'rpin.*')
      expect(messages.map((m) => (JSON.parse(m.text) as Click).n).sort((a, b) => a - b)).toEqual(clicks.map((c) => c.n))
      for (const m of messages) expect(m.subject).toBe(`rpin.${partitionOf(keyIdOf((JSON.parse(m.text) as Click).user), 3)}`)
    } finally {
      await query.stop()
    }
  })
})
