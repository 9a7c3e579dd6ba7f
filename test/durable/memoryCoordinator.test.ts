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
