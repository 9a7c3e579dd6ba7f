/**
 * A member paused while it restores a task (between reading the task's offsets log and its commit log) and resumed
 * after its lease went to another member, which committed further meanwhile: what it reads next is the successor's
 * checkpoint, newer than what it read before, and its recovery fails. That failure comes from losing the lease, so the
 * member counts the task as lost — as a fenced write — and stays in the cluster to be handed its share again, instead
 * of failing as a whole. Real time with a short TTL; the pause is a read held until the takeover happened.
 */
import { sep } from 'node:path'
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
  memorySource,
  type MemorySink,
  nodeFs,
  partitionedSource,
} from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { until, useClusterMembers } from '../support/clusterMembers.js'
import { severable } from '../support/severableCoordinator.js'
import { useTempDirs } from '../support/tempDirs.js'

const P = 2
// Registered after the temp directories: vitest runs after-each hooks last-registered first, so members stop first.
const tempDir = useTempDirs()
const members = useClusterMembers<ClusterQuery>()

/** The node file system, except that the first listing of a task's commit log waits until `release()`. */
function pausingFs() {
  let release: () => void = () => undefined
  const released = new Promise<void>((r) => (release = r))
  const state = { pausedTask: undefined as number | undefined, lastCommit: -1, path: '', release }
  const fs = {
    ...nodeFs,
    async readdir(path: string) {
      const match = new RegExp(`${sep}tasks${sep}(\\d+)${sep}commits$`).exec(path)
      if (match !== null && state.pausedTask === undefined) {
        state.lastCommit = await lastCommit(path)
        state.path = path
        state.pausedTask = Number(match[1])
        await released
      }
      return nodeFs.readdir(path)
    },
  }
  return { fs, state }
}

/** The newest batch id in a commit log directory (-1 when empty). */
async function lastCommit(path: string): Promise<number> {
  return Math.max(-1, ...(await nodeFs.readdir(path)).filter((f) => /^\d+$/.test(f)).map(Number))
}

it('a member whose task recovery read its successor’s newer checkpoint counts the task as lost and is handed a share again', async () => {
  const dir = await tempDir('cluster-lost-start')
  const parts = Array.from({ length: P }, () => memorySource<{ user: string }>())
  const expected = new Map<string, number>()
  let next = 0
  const add = (n: number) => {
    const rows = Array.from({ length: n }, () => ({ user: `u${next++ % 13}` }))
    for (const r of rows) expected.set(r.user, (expected.get(r.user) ?? 0) + 1)
    for (let p = 0; p < P; p++) parts[p]!.addData(rows.filter((r) => partitionOf(keyIdOf(r.user), P) === p))
  }
  const sink = memorySink<{ key: string; count: number }>()
  const counted = (s: MemorySink<{ key: string; count: number }>) => JSON.stringify(Object.fromEntries(s.rows().map((r) => [r.key, r.count]).sort()))
  const complete = () => counted(sink) === JSON.stringify(Object.fromEntries([...expected].sort()))
  const start = async (coordinator: Coordinator, session: ReturnType<typeof createSession>) => {
    const query = (await session
      .readStream(partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }))
      .pipe(groupBy((c: { user: string }) => c.user, t.string), count())
      .writeStream({ outputMode: 'update', sink, checkpointLocation: dir, cluster: { name: 'lost', coordinator, heartbeatMs: 100 } })
      .start()) as ClusterQuery
    members.push(query)
    return query
  }
  const shared = memoryCoordinator({ ttlMs: 1_500 })
  const a = await start(shared, createSession({ warn: () => undefined }))
  await until('the first member runs every task', () => a.runningTasks.length === P)
  add(200)
  await until('the first rows are counted', complete)

  const cut = severable(shared)
  const paused = pausingFs()
  const bWarnings: string[] = []
  const b = await start(cut.coordinator, createSession({ fs: paused.fs, warn: (m) => bWarnings.push(m) }))
  await until('the second member is restoring a task handed to it', () => paused.state.pausedTask !== undefined)
  cut.sever()
  await until('the first member took the task back', () => a.runningTasks.length === P)
  add(200)
  await until('the first member counted the new rows', complete)
  // Its commit log now goes past what the paused member read of the task's offsets log.
  for (let last = -1; last <= paused.state.lastCommit; last = await lastCommit(paused.state.path)) await new Promise((r) => setTimeout(r, 20))

  paused.state.release()
  cut.heal()
  await until('the second member ended the task it was restoring', () => bWarnings.some((w) => /lost task \d+/.test(w)) || b.exception !== undefined)
  expect(b.exception).toBeUndefined()
  expect(bWarnings.join('\n')).toMatch(new RegExp(`lost task ${paused.state.pausedTask} \\(epoch \\d+\\).*is committed but offsets/ ends at batch`))
  await until('the tasks are shared again', () => a.runningTasks.length === 1 && b.runningTasks.length === 1)
  add(200)
  await until('the counts are complete again', complete)
  expect(b.exception).toBeUndefined()
}, 120_000)
