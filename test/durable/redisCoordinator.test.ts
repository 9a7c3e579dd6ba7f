/**
 * The Redis coordinator on a real `redis-server`: the coordinator contract and the shared-store tests (each member
 * on its own connection), plus what only Redis has: keys holding foreign values, and URLs it cannot read.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoordinatorStateError } from '../../src/errors.js'
import { redisCoordinator } from '../../src/durable/redisCoordinator.js'
import type { SharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { type RedisServer, startRedis } from '../support/servers/redis.js'
import { sharedCoordinatorContract } from './sharedCoordinatorContract.js'

sharedCoordinatorContract('redisCoordinator', {
  start: startRedis,
  coordinator: redisCoordinator,
  at: (port) => ({ url: `redis://127.0.0.1:${port}`, names: `redis 127.0.0.1:${port}` }),
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

  it('refuses a URL it cannot read, an invalid TTL and an invalid cluster name, naming each', () => {
    expect(() => redisCoordinator('not a url')).toThrow(/not a Redis URL: 'not a url'/)
    expect(() => redisCoordinator(server.url, { ttlMs: -1 })).toThrow(/redisCoordinator: ttlMs must be a positive integer, got -1/)
    expect(() => shared.forCluster('a b')).toThrow(/cluster name must be 1-64 letters, digits, '-' or '_', got "a b"/)
  })
})
