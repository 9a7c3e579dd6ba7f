/**
 * Log connector benchmarks: the `jetStream` and `redisStream` sources drained by a query (codec checked, batches of
 * 20,000) against a raw client loop that reads the same messages and JSON.parses them, in the same run, against one
 * real server started for the benchmark. The checksum (Σ v) must agree.
 */
import { rmSync } from 'node:fs'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { createSession, foreachBatch, jetStream, redisStream, trigger } from '../src/index.js'
import { startNats } from '../test/support/servers/nats.js'
import { startRedis } from '../test/support/servers/redis.js'
import { generateRows } from './data.js'
import { type BenchGroup, phasedCase } from './harness.js'

const ROWS = 200_000
const BATCH = 20_000
const Row = t.type({ key: t.string, v: t.number })

/** Stops a benchmark's server when the process ends (the harness has no teardown hook). */
function stopAtExit(server: { process: { stop(): Promise<void> }; dir: string }): void {
  process.on('exit', () => {
    void server.process.stop()
    rmSync(server.dir, { recursive: true, force: true })
  })
}

/** A query draining the source with trigger.availableNow, summing `v` in its sink. */
async function drain(source: ReturnType<typeof jetStream<t.TypeOf<typeof Row>>>): Promise<number> {
  let sum = 0
  const q = await createSession()
    .readStream(source)
    .writeStream({
      outputMode: 'append',
      sink: foreachBatch<t.TypeOf<typeof Row>>((rows) => {
        for (const r of rows) sum += r.v
      }),
      trigger: trigger.availableNow(),
    })
    .start()
  await q.awaitTermination()
  return sum
}

export const jetStreamSourceGroup: BenchGroup = {
  name: 'jetstream-source',
  description: `jetStream source draining ${ROWS.toLocaleString('en')} JSON messages (maxMessagesPerTrigger ${BATCH.toLocaleString('en')}, codec checked) vs a raw pull-consumer loop with JSON.parse`,
  async prepare() {
    const server = await startNats()
    stopAtExit(server)
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    const js = jsm.jetstream()
    await jsm.streams.add({ name: 'BENCH', subjects: ['bench'] })
    const encoder = new TextEncoder()
    const rows = generateRows({ count: ROWS, keys: 1000, seed: 11 })
    for (let i = 0; i < rows.length; i += 5000) {
      await Promise.all(rows.slice(i, i + 5000).map((r) => js.publish('bench', encoder.encode(JSON.stringify(r)))))
    }
    return {
      cases: [
        phasedCase('engine jetStream → foreachBatch', ROWS, {
          setup: () => undefined,
          run: () => drain(jetStream({ servers: server.url, stream: 'BENCH', subject: 'bench', codec: Row, maxMessagesPerTrigger: BATCH })),
        }),
        phasedCase('raw consumer fetch loop + JSON.parse', ROWS, {
          setup: () => undefined,
          async run() {
            const info = await jsm.consumers.add('BENCH', { filter_subject: 'bench', ack_policy: 'none' as never, mem_storage: true })
            const consumer = await js.consumers.get('BENCH', info.name)
            let sum = 0
            let left = info.num_pending
            while (left > 0) {
              const want = Math.min(10_000, left)
              let got = 0
              for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
                sum += (JSON.parse(m.string()) as { v: number }).v
                if (++got === want) break
              }
              left -= got
            }
            await jsm.consumers.delete('BENCH', info.name)
            return sum
          },
        }),
      ],
      comparisons: [
        { title: 'jetStream source ≥ 0.7× a raw consume loop', subject: 'engine jetStream → foreachBatch', baseline: 'raw consumer fetch loop + JSON.parse', target: 0.7 },
      ],
    }
  },
}

export const redisStreamSourceGroup: BenchGroup = {
  name: 'redis-stream-source',
  description: `redisStream source draining ${ROWS.toLocaleString('en')} entries (maxEntriesPerTrigger ${BATCH.toLocaleString('en')}, codec checked) vs raw XRANGE + JSON.parse`,
  async prepare() {
    const server = await startRedis()
    stopAtExit(server)
    const redis = new Redis(server.url)
    const rows = generateRows({ count: ROWS, keys: 1000, seed: 12 })
    for (let i = 0; i < rows.length; i += 5000) {
      const pipe = redis.pipeline()
      for (const r of rows.slice(i, i + 5000)) pipe.xadd('bench', '*', 'value', JSON.stringify(r))
      await pipe.exec()
    }
    return {
      cases: [
        phasedCase('engine redisStream → foreachBatch', ROWS, {
          setup: () => undefined,
          run: () => drain(redisStream({ url: server.url, key: 'bench', codec: Row, maxEntriesPerTrigger: BATCH })),
        }),
        phasedCase('raw XRANGE loop + JSON.parse', ROWS, {
          setup: () => undefined,
          async run() {
            let sum = 0
            let cursor = '-'
            for (;;) {
              const chunk = await redis.xrange('bench', cursor, '+', 'COUNT', 10_000)
              for (const [, fields] of chunk) sum += (JSON.parse(fields[1]!) as { v: number }).v
              if (chunk.length < 10_000) break
              cursor = `(${chunk[chunk.length - 1]![0]}`
            }
            return sum
          },
        }),
      ],
      comparisons: [
        { title: 'redisStream source ≥ 0.7× raw XRANGE + JSON.parse', subject: 'engine redisStream → foreachBatch', baseline: 'raw XRANGE loop + JSON.parse', target: 0.7 },
      ],
    }
  },
}
