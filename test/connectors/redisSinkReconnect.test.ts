/**
 * redisStreamSink keeps a batch exactly once when its connection drops in the middle of writing it and, meanwhile,
 * another writer of the same query (a member that took its task over) committed that batch: the client reconnects
 * and sends the batch again, and the marker check must still hold on the new connection.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeFs, redisStreamSink } from '../../src/index.js'
import { useServer } from '../support/servers/managed.js'
import { startRedis } from '../support/servers/redis.js'

const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })

/**
 * A TCP proxy to `port` that, the first time the client sends a chunk matching `trigger`, holds it back, runs
 * `meanwhile`, and then closes both sides without forwarding it: the client's command never reached the server.
 */
async function droppingProxy(port: number, trigger: RegExp, meanwhile: () => Promise<void>): Promise<{ url: string; dropped: () => boolean; close: () => Promise<void> }> {
  let armed = true
  let dropped = false
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      if (armed && trigger.test(chunk.toString('latin1'))) {
        armed = false
        client.pause()
        void meanwhile().then(() => {
          dropped = true
          client.destroy()
          upstream.destroy()
        })
        return
      }
      upstream.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy: no port')
  return {
    url: `redis://127.0.0.1:${address.port}`,
    dropped: () => dropped,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

describe('redisStreamSink when its connection drops while it writes a batch', () => {
  it('writes nothing once the batch was committed by another writer meanwhile: the marker is checked where the rows are written', async () => {
    const key = 'reconnect-out'
    const queryId = 'q-reconnect'
    const marker = `${key}:srx-batches`
    // The transaction (or script) that writes batch 4 is held back; a successor commits batch 4 first.
    const proxy = await droppingProxy(redis.server.port, /MULTI|EVAL/i, async () => {
      await redis.client.xadd(key, '*', 'value', JSON.stringify({ from: 'successor' }))
      await redis.client.hset(marker, queryId, '4')
    })
    closers.push(proxy.close)
    const sink = redisStreamSink({ url: proxy.url, key, retry: { attempts: 20, maxDelayMs: 200 } })
    const writer = await sink.open({ queryId, queryName: undefined, outputMode: 'append', fs: nodeFs })
    closers.push(async () => writer.stop?.())
    await writer.addBatch(4, [{ from: 'stale', n: 1 }, { from: 'stale', n: 2 }])
    expect(proxy.dropped()).toBe(true)
    const entries = await redis.client.xrange(key, '-', '+')
    expect(entries.map(([, fields]) => JSON.parse(fields[1]!))).toEqual([{ from: 'successor' }])
    expect(await redis.client.hget(marker, queryId)).toBe('4')
  })

  it('writes the batch once when the connection drops before anyone else wrote it', async () => {
    const key = 'reconnect-alone'
    const queryId = 'q-alone'
    const proxy = await droppingProxy(redis.server.port, /MULTI|EVAL/i, async () => undefined)
    closers.push(proxy.close)
    const sink = redisStreamSink({ url: proxy.url, key, retry: { attempts: 20, maxDelayMs: 200 } })
    const writer = await sink.open({ queryId, queryName: undefined, outputMode: 'append', fs: nodeFs })
    closers.push(async () => writer.stop?.())
    await writer.addBatch(0, [{ n: 1 }, { n: 2 }])
    await writer.addBatch(0, [{ n: 1 }, { n: 2 }])
    await writer.addBatch(1, [{ n: 3 }])
    expect(proxy.dropped()).toBe(true)
    const entries = await redis.client.xrange(key, '-', '+')
    expect(entries.map(([, fields]) => JSON.parse(fields[1]!))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(await redis.client.hget(`${key}:srx-batches`, queryId)).toBe('1')
  })

  it('refuses a stream key that holds another type, naming it, and writes nothing (not the other keys, not the marker)', async () => {
    const key = 'wrong-type'
    await redis.client.set(`${key}:1`, 'a string')
    const sink = redisStreamSink({ url: redis.server.url, key, partitions: 2 })
    const writer = await sink.open({ queryId: 'q-wrong', queryName: undefined, outputMode: 'append', fs: nodeFs })
    closers.push(async () => writer.stop?.())
    const rows = Array.from({ length: 20 }, (_, n) => ({ n }))
    await expect(writer.addBatch(0, rows)).rejects.toThrow(`redisStreamSink: key ${key}:1 holds a string, not a stream`)
    expect(await redis.client.exists(`${key}:0`)).toBe(0)
    expect(await redis.client.hget(`${key}:srx-batches`, 'q-wrong')).toBeNull()
  })

  it('writes a batch of 100,000 rows in one go (more rows than a function call takes arguments)', async () => {
    const key = 'large-batch'
    const sink = redisStreamSink({ url: redis.server.url, key })
    const writer = await sink.open({ queryId: 'q-large', queryName: undefined, outputMode: 'append', fs: nodeFs })
    closers.push(async () => writer.stop?.())
    await writer.addBatch(0, Array.from({ length: 100_000 }, (_, n) => ({ n })))
    expect(await redis.client.xlen(key)).toBe(100_000)
    const [last] = await redis.client.xrevrange(key, '+', '-', 'COUNT', 1)
    expect(JSON.parse(last![1][1]!)).toEqual({ n: 99_999 })
  })
})
