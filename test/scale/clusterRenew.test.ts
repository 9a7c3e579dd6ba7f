/**
 * A member's heartbeat renews its leases in parallel inside its one lane of coordinator calls: when one renewal
 * fails, the heartbeat still waits for the others (each answers within the call timeout), so no renewal runs beside
 * the member's next call.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, expect, it } from 'vitest'
import { type ClusterQuery, type Coordinator, count, createSession, groupBy, memoryCoordinator, memorySink, memorySource, partitionedSource } from '../../src/index.js'

const dirs: string[] = []
const members: ClusterQuery[] = []
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

it('a failed lease renewal does not leave the other renewals running beside the next coordinator call', async () => {
  const inner = memoryCoordinator({ ttlMs: 30_000 })
  let failing = false
  let pendingSlow = 0
  const overlaps: string[] = []
  const watched = <A extends unknown[], R>(name: string, call: (...a: A) => Promise<R>) => (...a: A): Promise<R> => {
    if (pendingSlow > 0) overlaps.push(name)
    return call(...a)
  }
  const coordinator: Coordinator = {
    heartbeat: watched('heartbeat', (m) => inner.heartbeat(m)),
    leave: (m) => inner.leave(m),
    members: watched('members', () => inner.members()),
    leases: watched('leases', () => inner.leases()),
    acquire: watched('acquire', (task, m) => inner.acquire(task, m)),
    release: watched('release', (lease) => inner.release(lease)),
    holds: (task, m, epoch) => inner.holds(task, m, epoch),
    renew: async (lease) => {
      if (!failing) return inner.renew(lease)
      if (lease.task.endsWith('0')) throw new Error('renewal refused')
      pendingSlow++
      await new Promise((r) => setTimeout(r, 400))
      pendingSlow--
      return inner.renew(lease)
    },
  }
  const dir = await mkdtemp(join(tmpdir(), 'srx-cluster-renew-'))
  dirs.push(dir)
  const parts = [memorySource<{ user: string }>(), memorySource<{ user: string }>()]
  const query = (await createSession({ warn: () => undefined })
    .readStream(partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }))
    .pipe(groupBy((c: { user: string }) => c.user, t.string), count())
    .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: dir, cluster: { name: 'renew', coordinator, heartbeatMs: 50, callTimeoutMs: 5_000 } })
    .start()) as ClusterQuery
  members.push(query)
  const deadline = Date.now() + 20_000
  while (query.runningTasks.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  expect(query.runningTasks).toEqual([0, 1])
  failing = true
  await new Promise((r) => setTimeout(r, 1_500))
  failing = false
  expect(overlaps).toEqual([])
}, 30_000)
