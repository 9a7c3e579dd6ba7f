/**
 * redisStream on a real redis-server, what the main suite leaves open: its names (description, kind, identity, the
 * option in a RangeError), reads longer than one XRANGE chunk (10 000 entries) with and without maxEntriesPerTrigger,
 * the field names an entry without `value` reports, and the connection a stopped reader closes.
 */
import fc from 'fast-check'
import * as t from 'io-ts'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { BadMessageError, isPartitioned, nodeFs, redisStream, type SourceContext } from '../../src/index.js'
import { useServer } from '../support/servers/managed.js'
import { startRedis } from '../support/servers/redis.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

let n = 0
const freshKey = () => `edge${++n}`
const ctx: SourceContext = { fs: nodeFs, logDir: undefined, restarting: false }

const redis = useServer(startRedis, { client: (s) => new Redis(s.url), closeClient: (c) => c.disconnect() })

async function append(key: string, rows: readonly Row[]): Promise<string[]> {
  const pipe = redis.client.pipeline()
  for (const r of rows) pipe.xadd(key, '*', 'value', JSON.stringify(r))
  return (await pipe.exec())!.map(([, id]) => id as string)
}
const rows = (count: number): Row[] => Array.from({ length: count }, (_, i) => ({ id: i }))

describe('redisStream names', () => {
  const url = 'redis://127.0.0.1:6390/2'

  it('describes a key, P partition keys and each partition by key, and is identified by server, db and key', () => {
    const one = redisStream({ url, key: 'clicks', codec: Row })
    expect([one.description, one.kind, one.identity]).toEqual(['RedisStream[clicks]', 'redisStream', '127.0.0.1:6390/2/clicks'])
    const whole = redisStream({ url, key: 'clicks', partitions: 3, codec: Row })
    expect([whole.description, whole.kind, whole.identity]).toEqual(['RedisStream[clicks:[0..2]]', 'redisStream', '127.0.0.1:6390/2/clicks:*'])
    const parted = redisStream({ url, key: 'clicks', partitions: 3, partitionedBy: 'stableKeyHash', codec: Row })
    expect(isPartitioned(parted)).toBe(true)
    expect([parted.description, parted.identity]).toEqual(['RedisStream[clicks:[0..2]]', '127.0.0.1:6390/2/clicks:*'])
    const part = parted.partition(1)
    expect([part.description, part.kind, part.identity]).toEqual(['RedisStream[clicks:1]', 'redisStream', '127.0.0.1:6390/2/clicks:1'])
  })

  it('refuses bad options naming itself and the option', () => {
    expect(() => redisStream({ url, key: 'k', partitions: 0, codec: Row })).toThrow(new RangeError('redisStream: partitions must be a positive integer, got 0'))
    expect(() => redisStream({ url, key: 'k', partitions: 2, partitionedBy: 'byName' as never, codec: Row })).toThrow(
      new RangeError(`redisStream: partitionedBy must be 'stableKeyHash' or 'unknown', got "byName"`),
    )
    expect(() => redisStream({ url, key: 'k', codec: Row, maxEntriesPerTrigger: 0 })).toThrow(
      new RangeError('RedisStream[k]: maxEntriesPerTrigger must be a positive integer, got 0'),
    )
  })
})

describe('redisStream reads', () => {
  it('reads a range longer than one XRANGE chunk whole, and cuts it at exactly maxEntriesPerTrigger above the chunk', async () => {
    const key = freshKey()
    const ids = await append(key, rows(10_005))
    const all = await redisStream({ url: redis.server.url, key, codec: Row }).open(ctx)
    try {
      expect(await all.getBatch({ [key]: '0-0' }, { [key]: ids[10_004]! })).toEqual(rows(10_005))
    } finally {
      await all.stop()
    }
    const limited = await redisStream({ url: redis.server.url, key, codec: Row, maxEntriesPerTrigger: 10_001 }).open(ctx)
    try {
      const end = await limited.latestOffset({ [key]: '0-0' }, 'default')
      expect(end).toEqual({ [key]: ids[10_000] })
      expect((await limited.getBatch({ [key]: '0-0' }, end)).length).toBe(10_001)
      const next = await limited.latestOffset(end, 'default')
      expect(next).toEqual({ [key]: ids[10_004] })
      expect(await limited.getBatch(end, next)).toEqual(rows(10_005).slice(10_001))
    } finally {
      await limited.stop()
    }
  })

  it('names the fields of an entry that has no field value, in order', async () => {
    const name = fc.stringMatching(/^[a-z]{1,6}$/).filter((s) => s !== 'value')
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), async (fields) => {
        const key = freshKey()
        const id = (await redis.client.xadd(key, '*', ...fields.flatMap((f, i) => [f, `v${i}`])))!
        const reader = await redisStream({ url: redis.server.url, key, codec: Row }).open(ctx)
        try {
          const error = await reader.getBatch({ [key]: '0-0' }, { [key]: id }).then(() => undefined, (e: unknown) => e)
          expect(error).toBeInstanceOf(BadMessageError)
          expect((error as BadMessageError).reason).toBe(`entry has no field 'value' (fields: ${fields.join(', ')})`)
          expect((error as BadMessageError).position).toBe(id)
        } finally {
          await reader.stop()
        }
      }),
      { numRuns: 15 },
    )
  })

  it('closes its connection when stopped', async () => {
    const key = freshKey()
    await append(key, rows(2))
    const clients = async () => (await redis.client.client('LIST') as string).trim().split('\n').length
    const before = await clients()
    const reader = await redisStream({ url: redis.server.url, key, codec: Row }).open(ctx)
    await reader.latestOffset({ [key]: '0-0' }, 'default')
    expect(await clients()).toBe(before + 1)
    await reader.stop()
    await expect.poll(clients, { timeout: 3000, interval: 20 }).toBe(before)
  })
})
