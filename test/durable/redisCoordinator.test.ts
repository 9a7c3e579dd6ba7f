/**
 * The Redis coordinator on a real `redis-server`: the coordinator contract and the shared-store tests (each member
 * on its own connection), plus what only Redis has: keys holding foreign values, and URLs it cannot read.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
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

  it('keeps a cluster\'s tasks, members and revision under structured-rx:{<cluster>}:', async () => {
    const coordinator = shared.forCluster('keys')
    const lease = (await coordinator.acquire('t', 'A'))!
    await coordinator.heartbeat('A')
    expect(await raw.smembers('structured-rx:{keys}:tasks')).toEqual(['t'])
    expect(await raw.hgetall('structured-rx:{keys}:lease:t')).toMatchObject({ member: 'A', epoch: '1', revision: String(lease.revision) })
    expect(await raw.get('structured-rx:{keys}:revision')).toBe(String(lease.revision))
    expect(await raw.zrange('structured-rx:{keys}:members', '0', '-1')).toEqual(['A'])
  })

  it('a used coordinator refuses calls after close(), even in a cluster it used, and drops its connection', async () => {
    const clients = async () => String(await raw.call('CLIENT', 'LIST')).trim().split('\n').length
    const before = await clients()
    const own = redisCoordinator(server.url, { ttlMs: 10_000, retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 } })
    const coordinator = own.forCluster('dropped')
    await coordinator.heartbeat('A')
    expect(await clients()).toBe(before + 1)
    await own.close()
    await expect(coordinator.members()).rejects.toThrow(`redis ${new URL(server.url).host}: the coordinator was closed`)
    // The server sees the connection go once the client's socket has closed.
    await vi.waitFor(async () => expect(await clients()).toBe(before), { timeout: 10_000, interval: 20 })
  })

  it('refuses a URL it cannot read, an invalid TTL and an invalid cluster name, naming each', () => {
    expect(() => redisCoordinator('not a url')).toThrow(/not a Redis URL: 'not a url'/)
    expect(() => redisCoordinator(server.url, { ttlMs: -1 })).toThrow(/redisCoordinator: ttlMs must be a positive integer, got -1/)
    expect(() => shared.forCluster('a b')).toThrow(/cluster name must be 1-64 letters, digits, '-' or '_', got "a b"/)
  })
})
