/**
 * The in-process coordinator against the coordinator contract. Its members share one coordinator per cluster (the
 * memory is the store); the lease TTL is that of the cluster's first member, which the contract's mixed-TTL tests
 * allow because in memory no time passes between two steps.
 */
import { describe, expect, it } from 'vitest'
import type { Coordinator } from '../../src/durable/lease.js'
import { memoryCoordinator } from '../../src/durable/memoryCoordinator.js'
import { coordinatorFor, sharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { coordinatorContract } from './coordinatorContract.js'

coordinatorContract('memoryCoordinator', async () => {
  const clusters = new Map<string, Coordinator>()
  return {
    open(cluster, ttlMs) {
      if (!clusters.has(cluster)) clusters.set(cluster, memoryCoordinator({ ttlMs }))
      return clusters.get(cluster)!
    },
    close: async () => clusters.clear(),
  }
})

describe('memoryCoordinator options', () => {
  it('refuses a TTL that is not a positive number, naming it', () => {
    expect(() => memoryCoordinator({ ttlMs: 0 })).toThrow(/ttlMs must be a positive number, got 0/)
  })
})

describe('coordinatorFor', () => {
  it('uses an in-process coordinator as it is, and binds a shared one (itself cluster default) to the cluster name', () => {
    const memory = memoryCoordinator({ ttlMs: 1000 })
    expect(coordinatorFor(memory, 'orders')).toBe(memory)
    const bound: string[] = []
    const shared = sharedCoordinator({
      description: 'test store',
      ttlMs: 1000,
      forCluster: (name) => (bound.push(name), memory),
      close: async () => undefined,
    })
    expect(bound).toEqual(['default'])
    expect(coordinatorFor(shared, 'orders')).toBe(memory)
    expect(bound).toEqual(['default', 'orders'])
  })
})

describe('memoryCoordinator on a fake clock', () => {
  let clock = 1_000
  const fresh = () => {
    clock = 1_000
    return memoryCoordinator({ ttlMs: 100, now: () => clock })
  }

  it('refuses every TTL that is not a positive number, naming it', () => {
    for (const ttlMs of [-5, Number.NaN]) {
      expect(() => memoryCoordinator({ ttlMs })).toThrow(new RangeError(`memoryCoordinator: ttlMs must be a positive number, got ${ttlMs}`))
    }
    expect(() => memoryCoordinator({ ttlMs: 0.5 })).not.toThrow()
  })

  it('renews, releases and holds nothing for a task nobody ever acquired', async () => {
    const c = fresh()
    const never = { task: 'never', member: 'A', epoch: 1, revision: 1, expiresAt: 2_000 }
    expect(await c.renew(never)).toBeUndefined()
    expect(await c.release(never)).toBe(false)
    expect(await c.holds('never', 'A', 1)).toBe(false)
    expect(await c.leases()).toEqual([])
  })

  it('stamps leases with the clock: expiresAt is now + TTL, each write a new revision, and a lease lapses at expiresAt', async () => {
    const c = fresh()
    const lease = (await c.acquire('t', 'A'))!
    expect(lease).toEqual({ task: 't', member: 'A', epoch: 1, revision: 1, expiresAt: 1_100 })
    clock = 1_099
    const renewed = (await c.renew(lease))!
    expect(renewed).toEqual({ task: 't', member: 'A', epoch: 1, revision: 2, expiresAt: 1_199 })
    expect(await c.leases()).toEqual([renewed])
    clock = 1_198
    expect(await c.holds('t', 'A', 1)).toBe(true)
    expect(await c.holds('t', 'B', 1)).toBe(false)
    expect(await c.holds('t', 'A', 2)).toBe(false)
    expect(await c.acquire('t', 'B')).toBeUndefined()
    clock = 1_199
    expect(await c.holds('t', 'A', 1)).toBe(false)
    expect(await c.renew(renewed)).toBeUndefined()
    expect(await c.release(renewed)).toBe(false)
    expect(await c.acquire('t', 'B')).toEqual({ task: 't', member: 'B', epoch: 2, revision: 3, expiresAt: 1_299 })
  })

  it('releases a lease by expiring it at once, keeping its epoch for the next owner to raise', async () => {
    const c = fresh()
    const lease = (await c.acquire('t', 'A'))!
    expect(await c.release({ ...lease, revision: 99 })).toBe(false)
    expect(await c.release(lease)).toBe(true)
    expect(await c.leases()).toEqual([{ task: 't', member: 'A', epoch: 1, revision: 2, expiresAt: -Infinity }])
    expect(await c.release(lease)).toBe(false)
    expect(await c.renew(lease)).toBeUndefined()
    expect(await c.holds('t', 'A', 1)).toBe(false)
    expect(await c.acquire('t', 'A')).toMatchObject({ epoch: 2, revision: 3 })
  })

  it('lists the members whose heartbeat is fresh, sorted, until TTL after their last beat or until they leave', async () => {
    const c = fresh()
    await c.heartbeat('m2')
    await c.heartbeat('m1')
    clock = 1_050
    await c.heartbeat('m3')
    expect(await c.members()).toEqual(['m1', 'm2', 'm3'])
    clock = 1_099
    expect(await c.members()).toEqual(['m1', 'm2', 'm3'])
    clock = 1_100
    expect(await c.members()).toEqual(['m3'])
    await c.heartbeat('m1')
    await c.leave('m3')
    expect(await c.members()).toEqual(['m1'])
  })
})
