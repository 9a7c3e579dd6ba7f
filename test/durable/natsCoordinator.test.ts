/**
 * The NATS JetStream KV coordinator on a real `nats-server -js`: the coordinator contract and the shared-store tests
 * (each member on its own connection), plus what only NATS has: a bucket per cluster, forgotten members' entries
 * deleted, foreign entries in the bucket, the replicas option.
 */
import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { createServer, type Server, type Socket, connect as connectTcp } from 'node:net'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoordinatorStateError } from '../../src/errors.js'
import { natsCoordinator } from '../../src/durable/natsCoordinator.js'
import type { SharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { type NatsServer, startNats } from '../support/servers/nats.js'
import { sharedCoordinatorContract } from './sharedCoordinatorContract.js'

sharedCoordinatorContract('natsCoordinator', {
  start: startNats,
  coordinator: natsCoordinator,
  at: (port, cluster) => ({ url: `nats://127.0.0.1:${port}`, names: `nats-server nats://127.0.0.1:${port} bucket structured-rx-cluster-${cluster}` }),
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

  it('lets members of a new cluster that start at the same moment all open its bucket (one creates it, the others find it)', async () => {
    const members = Array.from({ length: 4 }, () => natsCoordinator(server.url, { ttlMs: 10_000 }))
    try {
      // Connected first, one after the other, so that the rounds below race only for the new buckets.
      for (const [i, m] of members.entries()) await m.forCluster(`at-once-warm-${i}`).heartbeat(`m${i}`)
      for (let round = 0; round < 15; round++) {
        const cluster = `at-once-${round}`
        await Promise.all(members.map((m, i) => m.forCluster(cluster).heartbeat(`m${i}`)))
        expect((await shared.forCluster(cluster).members()).sort()).toEqual(['m0', 'm1', 'm2', 'm3'])
      }
    } finally {
      await Promise.all(members.map((m) => m.close()))
    }
  }, 60_000)

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

  it('lists the leases sorted by task, whatever order they were taken in', async () => {
    const coordinator = shared.forCluster('sorted')
    for (const task of ['t2', 't10', 't1', 'a']) expect(await coordinator.acquire(task, 'A')).toMatchObject({ task, epoch: 1 })
    expect((await coordinator.leases()).map((l) => l.task)).toEqual(['a', 't1', 't10', 't2'])
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

  it('refuses an invalid TTL and an invalid cluster name, naming each', () => {
    expect(() => natsCoordinator(server.url, { ttlMs: 1.5 })).toThrow(/natsCoordinator: ttlMs must be a positive integer, got 1.5/)
    expect(() => natsCoordinator(server.url, { replicas: 0 })).toThrow(/natsCoordinator: replicas must be an integer from 1 to 5, got 0/)
    expect(() => shared.forCluster('')).toThrow(/cluster name must be 1-64 letters, digits, '-' or '_', got ""/)
  })
})

/**
 * A TCP proxy in front of the NATS server that, once armed, holds the client's first request for a stream message
 * (a KV get: `$JS.API.STREAM.MSG.GET…`) until `meanwhile` has run: what the coordinator reads back lands after it.
 */
async function holdingProxy(target: string): Promise<{ url: string; arm(meanwhile: () => Promise<void>): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target)
  let armed: (() => Promise<void>) | undefined
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connectTcp(Number(port), hostname)
    sockets.add(client).add(upstream)
    upstream.pipe(client)
    let seen = ''
    let held: Buffer[] | undefined
    client.on('data', (chunk: Buffer) => {
      if (held !== undefined) return void held.push(chunk)
      seen = (seen + chunk.toString('latin1')).slice(-200)
      const meanwhile = armed
      if (meanwhile === undefined || !seen.includes('STREAM.MSG.GET')) return void upstream.write(chunk)
      armed = undefined
      held = [chunk]
      void meanwhile().then(() => {
        for (const c of held!) upstream.write(c)
        held = undefined
      })
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return {
    url: `nats://127.0.0.1:${address.port}`,
    arm: (meanwhile) => void (armed = meanwhile),
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

describe('natsCoordinator release against a write that lands in between', () => {
  let server: NatsServer
  let nc: NatsConnection
  beforeAll(async () => {
    server = await startNats()
    nc = await connect({ servers: server.url })
  }, 60_000)
  afterAll(async () => {
    await nc?.close()
    await server?.close()
  })

  it('answers true when another write replaced the released entry before it could read back its stamp', async () => {
    const proxy = await holdingProxy(server.url)
    const shared = natsCoordinator(proxy.url, { ttlMs: 30_000 })
    try {
      const coordinator = shared.forCluster('between')
      const lease = (await coordinator.acquire('t', 'A'))!
      const kv = await new Kvm(jetstream(nc)).open('structured-rx-cluster-between')
      let landed = 0
      // The release's update lands first; its read-back of the stamp is held until this other write has landed too.
      proxy.arm(async () => {
        landed = await kv.put('lease.t', JSON.stringify({ member: 'B', epoch: 2, ttlMs: 30_000 }))
      })
      expect(await coordinator.release(lease)).toBe(true)
      expect(landed).toBe(lease.revision + 2)
      expect((await kv.get('lease.t'))?.json()).toEqual({ member: 'B', epoch: 2, ttlMs: 30_000 })
    } finally {
      await shared.close()
      await proxy.close()
    }
  }, 60_000)
})
