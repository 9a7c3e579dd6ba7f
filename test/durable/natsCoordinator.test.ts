/**
 * The NATS JetStream KV coordinator against the coordinator contract on a real `nats-server -js`, each member on
 * its own connection; plus what only NATS has: foreign entries in the bucket, and a member clock that is never
 * consulted (expiry compares timestamps the server stamped).
 */
import { Kvm } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ConnectorUnavailableError, CoordinatorStateError } from '../../src/errors.js'
import { natsCoordinator } from '../../src/durable/natsCoordinator.js'
import type { SharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { type NatsServer, startNats } from '../support/servers/nats.js'
import { coordinatorContract } from './coordinatorContract.js'

coordinatorContract('natsCoordinator', async () => {
  const server = await startNats()
  const opened: SharedCoordinator[] = []
  return {
    open(cluster, ttlMs) {
      const shared = natsCoordinator(server.url, { ttlMs })
      opened.push(shared)
      return shared.forCluster(cluster)
    },
    async close() {
      await Promise.all(opened.map((c) => c.close()))
      await server.close()
    },
  }
})

describe('natsCoordinator', () => {
  let server: NatsServer
  let nc: NatsConnection
  let shared: SharedCoordinator
  beforeAll(async () => {
    server = await startNats()
    nc = await connect({ servers: server.url })
    shared = natsCoordinator(server.url, { ttlMs: 10_000 })
  }, 60_000)
  afterAll(async () => {
    await shared?.close()
    await nc?.close()
    await server?.close()
  })

  it('keeps each cluster in a bucket named after it', async () => {
    await shared.forCluster('orders-eu').heartbeat('m1')
    const kv = await new Kvm(jetstream(nc)).open('structured-rx-cluster-orders-eu')
    expect((await kv.get('member.m1'))?.json()).toMatchObject({ member: 'm1' })
  })

  it('deletes the entry of a member whose heartbeat ran out when it lists the members', async () => {
    const short = natsCoordinator(server.url, { ttlMs: 200 })
    try {
      await short.forCluster('forget').heartbeat('m-gone')
      await new Promise((r) => setTimeout(r, 400))
      expect(await shared.forCluster('forget').members()).toEqual([])
      const kv = await new Kvm(jetstream(nc)).open('structured-rx-cluster-forget')
      expect((await kv.get('member.m-gone'))?.operation).toBe('DEL')
    } finally {
      await short.close()
    }
  })

  it('names an entry it did not write, with the bucket and the key', async () => {
    const coordinator = shared.forCluster('foreign')
    await coordinator.heartbeat('m1')
    const kv = await new Kvm(jetstream(nc)).open('structured-rx-cluster-foreign')
    await kv.put('lease.t', 'not json')
    await kv.put('lease.u', JSON.stringify({ member: 'x', epoch: 'one', ttlMs: 5 }))
    const notJson = await coordinator.acquire('t', 'A').catch((e: unknown) => e)
    expect(notJson).toBeInstanceOf(CoordinatorStateError)
    expect((notJson as CoordinatorStateError).store).toMatch(/bucket structured-rx-cluster-foreign/)
    expect((notJson as CoordinatorStateError).key).toBe('lease.t')
    await expect(coordinator.holds('u', 'x', 1)).rejects.toThrow(/lease\.u .*is not \{ member, epoch, ttlMs \}/)
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

  it('refuses an invalid TTL and an invalid cluster name, naming each', () => {
    expect(() => natsCoordinator(server.url, { ttlMs: 1.5 })).toThrow(/natsCoordinator: ttlMs must be a positive integer, got 1.5/)
    expect(() => natsCoordinator(server.url, { replicas: 0 })).toThrow(/natsCoordinator: replicas must be an integer from 1 to 5, got 0/)
    expect(() => shared.forCluster('')).toThrow(/cluster name must be 1-64 letters, digits, '-' or '_', got ""/)
  })
})

describe('natsCoordinator when the server goes away', () => {
  it('keeps its leases through a crash and restart of nats-server, and its calls work again once it is back', async () => {
    const server = await startNats()
    const shared = natsCoordinator(server.url, { ttlMs: 30_000, retry: { attempts: 40, initialDelayMs: 50, maxDelayMs: 250 } })
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
    const shared = natsCoordinator(`nats://127.0.0.1:${port}`, { retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 } })
    try {
      const error = await shared.forCluster('away').acquire('t', 'A').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConnectorUnavailableError)
      expect((error as ConnectorUnavailableError).message).toMatch(new RegExp(`^nats-server nats://127.0.0.1:${port} bucket structured-rx-cluster-away is unreachable after 2 attempts`))
    } finally {
      await shared.close()
    }
  })
})
