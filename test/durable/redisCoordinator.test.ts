/**
 * The Redis coordinator against the coordinator contract on a real `redis-server`, each member on its own
 * connection; plus what only Redis has: foreign keys, bad URLs, and a member clock that is never consulted.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ConnectorUnavailableError, CoordinatorStateError } from '../../src/errors.js'
import { redisCoordinator } from '../../src/durable/redisCoordinator.js'
import type { SharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { type RedisServer, startRedis } from '../support/servers/redis.js'
import { coordinatorContract } from './coordinatorContract.js'

coordinatorContract('redisCoordinator', async () => {
  const server = await startRedis()
  const opened: SharedCoordinator[] = []
  return {
    open(cluster, ttlMs) {
      const shared = redisCoordinator(server.url, { ttlMs })
      opened.push(shared)
      return shared.forCluster(cluster)
    },
    async close() {
      await Promise.all(opened.map((c) => c.close()))
      await server.close()
    },
  }
})

describe('redisCoordinator', () => {
  let server: RedisServer
  let raw: Redis
  let shared: SharedCoordinator
  beforeAll(async () => {
    server = await startRedis()
    raw = new Redis(server.url)
    shared = redisCoordinator(server.url, { ttlMs: 10_000 })
  }, 60_000)
  afterAll(async () => {
    await shared?.close()
    raw?.disconnect()
    await server?.close()
  })

  it('names a lease key that holds something it did not write, with the store and the key', async () => {
    const coordinator = shared.forCluster('foreign')
    await raw.set('structured-rx:{foreign}:lease:t', 'not a hash')
    await raw.hset('structured-rx:{foreign}:lease:u', 'member', 'x', 'epoch', 'one', 'expiresAt', '0')
    const wrongType = await coordinator.acquire('t', 'A').catch((e: unknown) => e)
    expect(wrongType).toBeInstanceOf(CoordinatorStateError)
    expect((wrongType as CoordinatorStateError).key).toBe('structured-rx:{foreign}:lease:t')
    await expect(coordinator.acquire('u', 'A')).rejects.toThrow(/lease:u .*epoch is not a number/)
  })

  it('decides expiry by the server clock: a member whose clock runs an hour ahead cannot take a fresh lease', async () => {
    const coordinator = shared.forCluster('skew')
    await coordinator.acquire('t', 'A')
    const realNow = Date.now()
    const ahead = vi.spyOn(Date, 'now').mockReturnValue(realNow + 3_600_000)
    try {
      expect(await coordinator.acquire('t', 'B')).toBeUndefined()
      expect(await coordinator.holds('t', 'A', 1)).toBe(true)
    } finally {
      ahead.mockRestore()
    }
  })

  it('refuses a URL it cannot read, an invalid TTL and an invalid cluster name, naming each', () => {
    expect(() => redisCoordinator('not a url')).toThrow(/not a Redis URL: 'not a url'/)
    expect(() => redisCoordinator(server.url, { ttlMs: -1 })).toThrow(/redisCoordinator: ttlMs must be a positive integer, got -1/)
    expect(() => shared.forCluster('a b')).toThrow(/cluster name must be 1-64 letters, digits, '-' or '_', got "a b"/)
  })
})

describe('redisCoordinator when the server goes away', () => {
  it('keeps its leases through a crash and restart of redis-server, and its calls work again once it is back', async () => {
    const server = await startRedis()
    const shared = redisCoordinator(server.url, { ttlMs: 30_000, retry: { attempts: 40, initialDelayMs: 50, maxDelayMs: 250 } })
    try {
      const coordinator = shared.forCluster('restart')
      const lease = (await coordinator.acquire('t', 'A'))!
      await server.restart(200)
      expect(await coordinator.holds('t', 'A', lease.epoch)).toBe(true)
      expect(await coordinator.acquire('t', 'B')).toBeUndefined()
      expect(await coordinator.renew(lease)).toMatchObject({ member: 'A', epoch: 1 })
    } finally {
      await shared.close()
      await server.close()
    }
  }, 60_000)

  it('fails a call with ConnectorUnavailableError naming the store once its retries are spent', async () => {
    const port = await freeLoopbackPort()
    const shared = redisCoordinator(`redis://127.0.0.1:${port}`, { retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 } })
    try {
      const error = await shared.forCluster('away').acquire('t', 'A').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConnectorUnavailableError)
      expect((error as ConnectorUnavailableError).message).toMatch(new RegExp(`^redis 127.0.0.1:${port} is unreachable after 2 attempts`))
    } finally {
      await shared.close()
    }
  })
})
