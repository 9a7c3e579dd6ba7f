/**
 * A coordinator call that never answers (a connection the store dropped while the member was stopped, a network path
 * that swallows packets) must not stall a member: the call fails after the member's call timeout with an error that
 * names it, and the member goes on — it hands tasks to a member that joins, and a task whose fence check hung is
 * stopped uncommitted, given back and run again, with every count exact. Leases here last far longer than each test,
 * so nothing in them can move by expiry: only a member that survives the hung call lets them pass.
 */
import * as t from 'io-ts'
import { expect, it } from 'vitest'
import {
  type ClusterQuery,
  type Coordinator,
  count,
  createSession,
  groupBy,
  memoryCoordinator,
  memorySink,
  type MemorySink,
  memorySource,
  partitionedSource,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { until, useClusterMembers } from '../support/clusterMembers.js'
import { useTempDirs } from '../support/tempDirs.js'

const P = 2
const LONG_TTL = 120_000
// Registered after the temp directories: vitest runs after-each hooks last-registered first, so members stop first.
const tempDir = useTempDirs()
const members = useClusterMembers<ClusterQuery>()

/** `inner`, except that the next call named `which` after `hangNext(which)` never answers. */
function hanging(inner: Coordinator) {
  let armed: keyof Coordinator | undefined
  const hung: string[] = []
  const gate = <A extends unknown[], R>(name: keyof Coordinator, call: (...a: A) => Promise<R>) => (...a: A): Promise<R> => {
    if (armed !== name) return call(...a)
    armed = undefined
    hung.push(name)
    return new Promise<R>(() => undefined)
  }
  const coordinator: Coordinator = {
    heartbeat: gate('heartbeat', (m) => inner.heartbeat(m)),
    leave: gate('leave', (m) => inner.leave(m)),
    members: gate('members', () => inner.members()),
    leases: gate('leases', () => inner.leases()),
    acquire: gate('acquire', (task, m) => inner.acquire(task, m)),
    renew: gate('renew', (l) => inner.renew(l)),
    release: gate('release', (l) => inner.release(l)),
    holds: gate('holds', (task, m, epoch) => inner.holds(task, m, epoch)),
  }
  return { coordinator, hung, hangNext: (which: keyof Coordinator) => void (armed = which) }
}

function clicks() {
  const parts = Array.from({ length: P }, () => memorySource<{ user: string }>())
  const expected = new Map<string, number>()
  let next = 0
  return {
    source: partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }),
    add(n: number) {
      const rows = Array.from({ length: n }, () => ({ user: `u${next++ % 7}` }))
      for (const r of rows) expected.set(r.user, (expected.get(r.user) ?? 0) + 1)
      for (let p = 0; p < P; p++) parts[p]!.addData(rows.filter((r) => partitionOf(keyIdOf(r.user), P) === p))
    },
    expected: () => Object.fromEntries([...expected].sort()),
  }
}

async function member(stream: ReturnType<typeof clicks>, sink: MemorySink<{ key: string; count: number }>, dir: string, coordinator: Coordinator, warnings: string[]) {
  const query = (await createSession({ warn: (m) => warnings.push(m) })
    .readStream(stream.source)
    .pipe(groupBy((c: { user: string }) => c.user, t.string), count())
    .writeStream({ outputMode: 'update', sink, checkpointLocation: dir, cluster: { name: 'stall', coordinator, heartbeatMs: 50, callTimeoutMs: 300 } })
    .start()) as ClusterQuery
  members.push(query)
  return query
}

const countsOf = (sink: MemorySink<{ key: string; count: number }>) =>
  Object.fromEntries(sink.rows().map((r) => [r.key, r.count]).sort(([a], [b]) => String(a).localeCompare(String(b))))

it('a member whose members() call never answers goes on after the call timeout and hands a task to a member that joins', async () => {
  const store = memoryCoordinator({ ttlMs: LONG_TTL })
  const a = hanging(store)
  const stream = clicks()
  const sink = memorySink<{ key: string; count: number }>()
  const dir = await tempDir('cluster-stall')
  const warningsA: string[] = []
  const first = await member(stream, sink, dir, a.coordinator, warningsA)
  await until('the first member runs both tasks', () => first.runningTasks.length === P)
  stream.add(50)
  await first.processAllAvailable()
  a.hangNext('members')
  await until('the first member is inside the call that never answers', () => a.hung.length === 1)
  const second = await member(stream, sink, dir, store, [])
  await until('the member that joined runs a task', () => second.runningTasks.length === 1 && first.runningTasks.length === 1)
  expect(warningsA.some((w) => w.includes('coordinator in-process: members() did not answer within 300 ms'))).toBe(true)
  stream.add(50)
  await Promise.all([first.processAllAvailable(), second.processAllAvailable()])
  expect(countsOf(sink)).toEqual(stream.expected())
  expect(first.exception).toBeUndefined()
}, 60_000)

it('a task whose fence check never answers stops uncommitted, is given back and runs again: every count stays exact', async () => {
  const store = memoryCoordinator({ ttlMs: LONG_TTL })
  const a = hanging(store)
  const stream = clicks()
  const sink = memorySink<{ key: string; count: number }>()
  const warnings: string[] = []
  const query = await member(stream, sink, await tempDir('cluster-stall'), a.coordinator, warnings)
  await until('the member runs both tasks', () => query.runningTasks.length === P)
  stream.add(40)
  await query.processAllAvailable()
  a.hangNext('holds')
  stream.add(40)
  await until('a fence check is inside the call that never answers', () => a.hung.length === 1)
  await until('the task is given back and taken again', () => query.clusterView.tasks.some((task) => (task.epoch ?? 0) >= 2) && query.runningTasks.length === P)
  await query.processAllAvailable()
  expect(countsOf(sink)).toEqual(stream.expected())
  expect(query.exception).toBeUndefined()
  expect(warnings.some((w) => /stopped task \d uncommitted: the coordinator did not answer \(.*coordinator in-process: holds\(stall\/task-\d, epoch 1\) did not answer within 300 ms\)/.test(w))).toBe(true)
}, 60_000)
