/**
 * natsCoordinator opening a cluster's bucket when another member created it at the same moment: JetStream refuses
 * the loser's stream as overlapping the winner's (10065) or as a name in use with another configuration (10058), and
 * opening again finds the bucket made. Those refusals are injected into Kvm.create (the real race rarely yields
 * 10058); the rest runs on a real `nats-server -js`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { natsCoordinator } from '../../src/durable/natsCoordinator.js'
import type { SharedCoordinator } from '../../src/durable/sharedCoordinator.js'
import { type NatsServer, startNats } from '../support/servers/nats.js'

/** The refusals the next Kvm.create calls answer with, one per call, before the real calls. */
const refusals = vi.hoisted(() => ({ next: [] as unknown[], creates: 0 }))

vi.mock('@nats-io/kv', async (importOriginal) => {
  const real = await importOriginal<typeof import('@nats-io/kv')>()
  class Kvm extends real.Kvm {
    override create(...args: Parameters<InstanceType<typeof real.Kvm>['create']>) {
      refusals.creates++
      if (refusals.next.length > 0) return Promise.reject(refusals.next.shift())
      return super.create(...args)
    }
  }
  return { ...real, Kvm }
})

const refusal = (code: number, message: string) => Object.assign(new Error(message), { name: 'JetStreamApiError', code })

describe('natsCoordinator creating a bucket another member is creating', () => {
  let server: NatsServer
  let shared: SharedCoordinator
  beforeAll(async () => {
    server = await startNats()
    shared = natsCoordinator(server.url, { ttlMs: 10_000 })
  }, 60_000)
  afterAll(async () => {
    await shared?.close()
    await server?.close()
  })

  it('opens the bucket again after losing the race as a name in use (10058) or as overlapping subjects (10065)', async () => {
    for (const [i, [code, message]] of ([[10058, 'stream name already in use with a different configuration'], [10065, 'subjects overlap with an existing stream']] as const).entries()) {
      refusals.creates = 0
      refusals.next.push(refusal(code, message))
      const coordinator = shared.forCluster(`race-${i}`)
      await coordinator.heartbeat('m1')
      expect(await coordinator.members()).toEqual(['m1'])
      expect(refusals.creates).toBe(2)
    }
  })

  it('rejects any other refusal, and tries to open the bucket afresh at the next call', async () => {
    const other = refusal(10071, 'wrong last sequence')
    refusals.creates = 0
    refusals.next.push(other)
    const coordinator = shared.forCluster('refused')
    await expect(coordinator.heartbeat('m1')).rejects.toBe(other)
    expect(refusals.creates).toBe(1)
    await coordinator.heartbeat('m1')
    expect(await coordinator.members()).toEqual(['m1'])
    expect(refusals.creates).toBe(2)
  })
})
