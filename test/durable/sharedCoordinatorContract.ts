/**
 * What a coordinator in a shared store (Redis, NATS KV) keeps beyond the coordinator contract, run against a real
 * server: expiry is judged by the server's clock (a member whose clock runs ahead cannot take a fresh lease), leases
 * survive a crash and restart of the server and calls resume, and a store that stays away fails the call with
 * ConnectorUnavailableError naming it.
 */
import { describe, expect, it, vi } from 'vitest'
import { ConnectorUnavailableError } from '../../src/errors.js'
import type { SharedCoordinator, SharedCoordinatorOptions } from '../../src/durable/sharedCoordinator.js'
import type { ManagedServer } from '../support/servers/managed.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { coordinatorContract } from './coordinatorContract.js'

/** How to run one shared-store coordinator. */
export interface SharedStore {
  /** Starts a real server with its data in a temp dir. */
  start(): Promise<ManagedServer>
  /** The coordinator on the server at `url`. */
  coordinator(url: string, options?: SharedCoordinatorOptions): SharedCoordinator
  /** The URL of the server at a loopback port, and how a failing call names that store for cluster `cluster`. */
  at(port: number, cluster: string): { url: string; names: string }
}

/** Declares the coordinator contract and the shared-store tests for `store`. */
export function sharedCoordinatorContract(name: string, store: SharedStore): void {
  coordinatorContract(name, async () => {
    const server = await store.start()
    const opened: SharedCoordinator[] = []
    return {
      open(cluster, ttlMs) {
        const shared = store.coordinator(server.url, { ttlMs })
        opened.push(shared)
        return shared.forCluster(cluster)
      },
      async close() {
        await Promise.all(opened.map((c) => c.close()))
        await server.close()
      },
    }
  })

  describe(`${name} on a real server`, () => {
    /** Runs `body` with a fresh server and a coordinator on it, and cleans both up. */
    const withServer = async (options: SharedCoordinatorOptions, body: (server: ManagedServer, shared: SharedCoordinator) => Promise<void>) => {
      const server = await store.start()
      const shared = store.coordinator(server.url, options)
      try {
        await body(server, shared)
      } finally {
        await shared.close()
        await server.close()
      }
    }

    it('decides expiry by the server clock: a member whose clock runs an hour ahead cannot take a fresh lease', () =>
      withServer({ ttlMs: 30_000 }, async (_, shared) => {
        const coordinator = shared.forCluster('skew')
        await coordinator.acquire('t', 'A')
        const ahead = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000)
        try {
          expect(await coordinator.acquire('t', 'B')).toBeUndefined()
          expect(await coordinator.holds('t', 'A', 1)).toBe(true)
        } finally {
          ahead.mockRestore()
        }
      }), 60_000)

    it('keeps its leases through a crash and restart of the server, and its calls work again once it is back', () =>
      withServer({ ttlMs: 30_000, retry: { attempts: 40, initialDelayMs: 50, maxDelayMs: 250 } }, async (server, shared) => {
        const coordinator = shared.forCluster('restart')
        const lease = (await coordinator.acquire('t', 'A'))!
        await server.restart(200)
        expect(await coordinator.holds('t', 'A', lease.epoch)).toBe(true)
        expect(await coordinator.acquire('t', 'B')).toBeUndefined()
        expect(await coordinator.renew(lease)).toMatchObject({ member: 'A', epoch: 1 })
      }), 60_000)

    it('works, used directly as a Coordinator, in the cluster named default, apart from other clusters', () =>
      withServer({ ttlMs: 30_000 }, async (_, shared) => {
        const lease = (await shared.acquire('t', 'A'))!
        expect(await shared.forCluster('default').holds('t', 'A', lease.epoch)).toBe(true)
        expect(await shared.forCluster('other').acquire('t', 'B')).toMatchObject({ epoch: 1 })
        await shared.heartbeat('A')
        expect(await shared.forCluster('default').members()).toEqual(['A'])
        expect(await shared.forCluster('other').members()).toEqual([])
      }), 60_000)

    it('closes without ever having connected; after close() every call rejects naming the server and that it was closed', async () => {
      const server = await store.start()
      try {
        const port = Number(new URL(server.url).port)
        const description = store.at(port, 'closed').names.split(' bucket ')[0]
        const unused = store.coordinator(server.url, { ttlMs: 30_000 })
        await unused.close()
        const used = store.coordinator(server.url, { ttlMs: 30_000, retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 } })
        expect(await used.forCluster('closed').acquire('t', 'A')).toMatchObject({ epoch: 1 })
        await used.close()
        for (const shared of [unused, used]) {
          const error = await shared.forCluster('after-close').holds('t', 'A', 1).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(Error)
          expect((error as Error).message).toBe(`${description}: the coordinator was closed`)
        }
      } finally {
        await server.close()
      }
    }, 60_000)

    it('fails a call with ConnectorUnavailableError naming the store once its retries are spent', async () => {
      const { url, names } = store.at(await freeLoopbackPort(), 'away')
      const shared = store.coordinator(url, { retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 } })
      try {
        const error = await shared.forCluster('away').acquire('t', 'A').catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ConnectorUnavailableError)
        expect((error as Error).message.startsWith(`${names} is unreachable after 2 attempts`)).toBe(true)
      } finally {
        await shared.close()
      }
    })
  })
}
