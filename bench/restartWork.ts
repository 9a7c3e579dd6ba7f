/**
 * The two timed parts of the restart benchmark, shared by its in-process cases (`bench/restart.ts`) and the fresh
 * process each repetition runs in (`bench/restartChild.ts`): restarting a group-by-count query on a checkpoint until
 * its first new batch has committed, and reading and decoding the snapshot file alone. Each is split into an untimed
 * setup and the timed part, and reports the CPU time the timed part took beside its wall time.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import * as t from 'io-ts'
import { count, createSession, foreachBatch, groupBy, memorySource, nodeFs, type StreamingQuery } from '../src/index.js'
import { readCheckpointFile } from '../src/durable/format.js'
import { readStateLines } from '../src/state/stateFiles.js'

type Key = { k: string }

/** One timed part: wall time, a checksum of its result, and CPU time beside it. */
export interface TimedPart {
  readonly ms: number
  readonly checksum: number
  readonly extraMs: Record<string, number>
}

/** The benchmark's query: a group-by-count over 8 shuffle partitions, checkpointed at `location`. */
export function countQuery(input: ReturnType<typeof memorySource<Key>>, location: string, snapshotInterval: number): Promise<StreamingQuery> {
  return createSession({ shufflePartitions: 8, snapshotInterval, warn: () => {} })
    .readStream(input.source)
    .pipe(groupBy((r: Key) => r.k, t.string), count())
    .writeStream({ outputMode: 'update', sink: foreachBatch(() => {}), checkpointLocation: location })
    .start()
}

/** A checkpoint whose last batch snapshotted `keys` keys of group-by-count state; returns it and its source offset. */
export async function buildState(location: string, keys: number): Promise<{ location: string; offset: number }> {
  const input = memorySource<Key>()
  const q = await countQuery(input, location, 1)
  input.addData(Array.from({ length: keys }, (_, i) => ({ k: `user-${i}` })))
  await q.processAllAvailable()
  input.addData([{ k: 'user-0' }])
  await q.processAllAvailable()
  await q.stop()
  return { location, offset: keys + 1 }
}

/**
 * How the memory source is given the `committed` rows before the restart's offset, which it must hold for the offset
 * to exist but which the restarted query never reads: `'distinct'`, a new object per row (the method of earlier
 * rounds: a million live objects that the restart's first full garbage collection then marks), or `'shared'`, one
 * object repeated (what a real source holds of input it already delivered: nothing per row).
 */
export type PlaceholderRows = 'distinct' | 'shared'

/**
 * Restarts the query on the checkpoint at `location` (whose source offset is `committed`) until its first new batch
 * has committed. Untimed: the memory source's rows up to that offset, and stopping the query. The checksum is 1 when
 * exactly `keys` keys (plus the new one) were restored.
 */
export async function timedRestart(location: string, committed: number, keys: number, rows: PlaceholderRows): Promise<TimedPart> {
  const input = memorySource<Key>()
  const row = { k: 'user-0' }
  input.addData(rows === 'shared' ? new Array<Key>(committed).fill(row) : Array.from({ length: committed }, () => ({ k: 'user-0' })))
  let query: StreamingQuery | undefined
  try {
    const clock = startClock()
    query = await countQuery(input, location, 1_000_000)
    input.addData([{ k: 'fresh-key' }])
    await query.processAllAvailable()
    const { ms, extraMs } = clock.stop()
    return { ms, checksum: ((query.lastProgress?.stateOperators[0]?.numRowsTotal ?? 0) - 1) / keys, extraMs }
  } finally {
    await query?.stop()
    if (query?.exception) throw query.exception
  }
}

/**
 * The baseline: reading the latest snapshot of `stateDir` whole, checking its envelope and checksum, `JSON.parse`
 * of every line and an io-ts check of each key and count. The checksum is 1 when it read `keys` keys.
 */
export async function timedDecode(stateDir: string, keys: number): Promise<TimedPart> {
  const clock = startClock()
  let n = 0
  const snapshot = readdirSync(stateDir).filter((f) => f.endsWith('.snapshot')).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0]!
  const path = join(stateDir, snapshot)
  readStateLines(path, await readCheckpointFile(nodeFs, path), () => (line) => {
    const e = line as { k?: unknown; s?: unknown }
    if (e.k !== undefined && t.string.decode(e.k)._tag === 'Right' && t.number.decode(e.s)._tag === 'Right') n++
  })
  const { ms, extraMs } = clock.stop()
  return { ms, checksum: n / keys, extraMs }
}

/**
 * Wall time and CPU time from now: the process's user + system CPU of all its threads (`process.cpuUsage`), and the
 * main thread's time on a CPU from /proc (which does not count waiting for a core; absent off Linux). With
 * BENCH_MARKS=1 in the environment, the start and end of the timed part go to stderr (to line up with `--trace-gc`),
 * with the minor page faults of the main thread and of the process in between;
 * with BENCH_CPU_PROFILE=<file>, a CPU profile of the timed part alone is written there (open it in Chrome's DevTools).
 */
function startClock(): { stop(): { ms: number; extraMs: Record<string, number> } } {
  const profile = profileTo(process.env.BENCH_CPU_PROFILE)
  const cpu0 = process.cpuUsage()
  const main0 = mainThreadCpuMs()
  const faults0 = [mainThreadFaults(), process.resourceUsage().minorPageFault]
  const t0 = performance.now()
  if (process.env.BENCH_MARKS === '1') process.stderr.write(`timed part from ${t0.toFixed(0)} ms\n`)
  return {
    stop() {
      const ms = performance.now() - t0
      if (process.env.BENCH_MARKS === '1') {
        const faults = [mainThreadFaults() - faults0[0]!, process.resourceUsage().minorPageFault - faults0[1]!]
        process.stderr.write(`timed part to ${(t0 + ms).toFixed(0)} ms; minor page faults: main thread ${faults[0]}, process ${faults[1]}\n`)
      }
      const cpu = process.cpuUsage(cpu0)
      const main = mainThreadCpuMs()
      const extraMs: Record<string, number> = { 'process CPU': (cpu.user + cpu.system) / 1000 }
      if (main !== undefined && main0 !== undefined) extraMs['main-thread CPU'] = main - main0
      profile?.()
      return { ms, extraMs }
    },
  }
}

/** Minor page faults of the main thread so far (field 10 of /proc's stat), or 0 off Linux. */
function mainThreadFaults(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7])
  } catch {
    return 0
  }
}

function mainThreadCpuMs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return undefined
  }
}

/** Starts profiling the main thread when `path` is set; the function returned stops and writes the profile. */
function profileTo(path: string | undefined): (() => void) | undefined {
  if (path === undefined) return undefined
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 200 })
  session.post('Profiler.start')
  return () =>
    session.post('Profiler.stop', (error, result) => {
      if (error) throw error
      writeFileSync(path, JSON.stringify(result.profile))
      session.disconnect()
    })
}
