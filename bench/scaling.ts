/**
 * Scaling: the parse-heavy windowed count (JSON lines decoded by the file source, a JSON payload decoded per row,
 * 10-second windows per user) over 8 input partitions, on 2 worker threads vs the same 8 tasks on 1 worker thread
 * (`scaling`; the same tasks on the benchmark's main thread are timed beside them and printed as a second
 * comparison), and on 2 processes of one cluster vs 1 process (`scaling-processes`, coordinated on a real
 * redis-server).
 *
 * Each repetition measures a long-running stream's steady state, not its start: it starts the query over empty
 * partitions, links a warm-up file into each (as many rows as the timed input, with earlier event times) and drains
 * it untimed, so that every thread's code is optimised and its heap has grown to its working size; the start and
 * that drain are reported apart.
 * Then it links the timed files into the partitions and times draining them. Both sides of a comparison run the same
 * warm-up, the same rows and the same isolate settings (the one-worker baseline gets the resource limits the library
 * gives its workers). `npm run bench` runs compiled JavaScript, so no worker or member compiles TypeScript.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { linkSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { readJsonFilesSink } from '../src/index.js'
import { WORKER_RESOURCE_LIMITS } from '../src/index.js'
import { startRedis } from '../test/support/servers/redis.js'
import { type Event, writeEvents } from '../test/scale/fixtures/events.js'
import { partitionDir, windowedCounts, type WindowedCountsParams } from '../test/scale/fixtures/windowedCounts.js'
import { type BenchGroup, phasedCase } from './harness.js'
import { startOnOneWorker } from './scalingWorker.js'
import { cpuSpent, threadCpuMs } from './threadCpu.js'

export const SCALING_ROWS = 400_000
export const SCALING_PARTITIONS = 8
/** The warm-up drain: as many rows as the timed one, so that its end is the steady state of a running stream. */
const WARMUP_ROWS = SCALING_ROWS
/** The file names in each partition: the warm-up sorts before the timed input, which ends with the closing row. */
export const WARMUP_FILE = '0-warmup.jsonl'
export const INPUT_FILE = '1-events.jsonl'

/**
 * How the input's event times are spaced, which decides what dominates a task's work. Each user has a row every 500
 * rows; with rows 5 ms apart a user's 10-second window gets 4 rows, so a batch changes, checkpoints, emits and evicts
 * one window entry per 4 rows parsed (state-heavy); 0.25 ms apart it gets 80, and parsing dominates.
 */
export interface ScalingShape {
  readonly name: string
  /** Event-time milliseconds between consecutive rows. */
  readonly stepMs: number
}

export const STATE_HEAVY: ScalingShape = { name: '4 rows per user and window', stepMs: 5 }
export const PARSE_HEAVY: ScalingShape = { name: '80 rows per user and window', stepMs: 0.25 }

function events(n: number, fromTs: number, shape: ScalingShape): Event[] {
  return Array.from({ length: n }, (_, i) => ({
    user: `user-${(i * 7919) % 500}`,
    ts: fromTs + Math.floor(i * shape.stepMs),
    items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 3) }, { sku: 'gift', qty: 1 }],
  }))
}

/**
 * Writes the warm-up and the timed input of every partition once, into `staged`; cases hard-link them into fresh
 * partition directories, so that staging costs nothing per repetition.
 */
export async function stageScalingInput(staged: string, shape: ScalingShape = STATE_HEAVY): Promise<void> {
  await writeEvents(staged, SCALING_PARTITIONS, WARMUP_FILE, events(WARMUP_ROWS, 0, shape), false)
  // The timed rows come after the warm-up's event time, so none is late; a closing row ends every window.
  await writeEvents(staged, SCALING_PARTITIONS, INPUT_FILE, events(SCALING_ROWS, Math.ceil(WARMUP_ROWS * shape.stepMs), shape), true)
}

/** Creates the partitions under `input`, empty: every case starts its query over no rows. */
function emptyPartitions(input: string): void {
  for (let p = 0; p < SCALING_PARTITIONS; p++) mkdirSync(partitionDir(input, p), { recursive: true })
}

/** Hard-links `file` of every staged partition into the partitions under `input`. */
export function linkInput(staged: string, input: string, file: string): void {
  for (let p = 0; p < SCALING_PARTITIONS; p++) {
    mkdirSync(partitionDir(input, p), { recursive: true })
    linkSync(join(partitionDir(staged, p), file), join(partitionDir(input, p), file))
  }
}

/** The sum of the counts a query committed: every row once, whatever the number of threads or processes. */
export async function countedRows(output: string): Promise<number> {
  const rows = await readJsonFilesSink<{ count: number }>(output)
  return rows.reduce((n, r) => n + r.count, 0)
}

/** Where the tasks of the `scaling` group's cases run. */
type Placement = 'the main thread' | '1 worker thread' | '2 worker threads'

/** The query of a `scaling` case: on the benchmark's own thread or the library's workers, or on one worker thread. */
interface Started {
  drain(): Promise<void>
  stop(): Promise<void>
}

async function startOn(placement: Placement, params: Omit<WindowedCountsParams, 'parallelism'>): Promise<Started> {
  if (placement === '1 worker thread') return startOnOneWorker(params, WORKER_RESOURCE_LIMITS)
  const query = await windowedCounts.start({ ...params, parallelism: placement === 'the main thread' ? 1 : 2 })
  return { drain: () => query.processAllAvailable(), stop: () => query.stop() }
}

interface Run {
  readonly dir: string
  query: Started | undefined
  startupMs: number
  warmupMs: number
  cpu?: Record<string, number>
}

function onThreads(staged: string, placement: Placement) {
  return phasedCase(`${SCALING_PARTITIONS} tasks on ${placement}`, SCALING_ROWS, {
    async setup(): Promise<Run> {
      const run: Run = { dir: mkdtempSync(join(tmpdir(), 'srx-bench-scaling-')), query: undefined, startupMs: 0, warmupMs: 0 }
      const input = join(run.dir, 'in')
      emptyPartitions(input)
      const t0 = performance.now()
      run.query = await startOn(placement, { input, partitions: SCALING_PARTITIONS, output: join(run.dir, 'out'), checkpoint: join(run.dir, 'ckpt') })
      const t1 = performance.now()
      linkInput(staged, input, WARMUP_FILE)
      await run.query.drain()
      run.startupMs = t1 - t0
      run.warmupMs = performance.now() - t1
      linkInput(staged, input, INPUT_FILE)
      return run
    },
    async run(run) {
      const before = threadCpuMs()
      await run.query!.drain()
      run.cpu = cpuSpent(before, threadCpuMs(), placement === '2 worker threads' ? 2 : 1)
    },
    check: async (run) => {
      await run.query!.stop()
      run.query = undefined
      return countedRows(join(run.dir, 'out'))
    },
    extraMs: (run) => ({ 'start-up': run.startupMs, 'warm-up drain': run.warmupMs, ...run.cpu }),
    async teardown(run) {
      await run.query?.stop()
      rmSync(run.dir, { recursive: true, force: true })
    },
  })
}

/** The `scaling` group over input of `shape`: 2 worker threads vs 1 (and, with `withMainThread`, vs the main thread). */
function threadsGroup(name: string, shape: ScalingShape, withMainThread: boolean): BenchGroup {
  return {
    name,
    description:
      `parse-heavy windowed count, ${shape.name}, steady state over ${SCALING_ROWS} rows in ${SCALING_PARTITIONS} partitions after a warm-up drain as large: ` +
      `2 worker threads vs 1 worker thread${withMainThread ? ' (and vs the main thread)' : ''}`,
    async prepare() {
      const staged = mkdtempSync(join(tmpdir(), 'srx-bench-scaling-in-'))
      await stageScalingInput(staged, shape)
      const main = onThreads(staged, 'the main thread')
      const one = onThreads(staged, '1 worker thread')
      const two = onThreads(staged, '2 worker threads')
      return {
        cases: withMainThread ? [main, one, two] : [one, two],
        comparisons: [
          { title: `2 worker threads vs 1 worker thread (steady state, ${shape.name})`, subject: two.name, baseline: one.name, target: 1.7 },
          ...(withMainThread ? [{ title: '2 worker threads vs the main thread (steady state)', subject: two.name, baseline: main.name, target: 1.7 }] : []),
        ],
        dispose: async () => rmSync(staged, { recursive: true, force: true }),
      }
    },
  }
}

export const scalingGroup = threadsGroup('scaling', STATE_HEAVY, true)
/** The same query over input where parsing dominates: what the threads give when state is a small share of the work. */
export const scalingParseGroup = threadsGroup('scaling-parse', PARSE_HEAVY, false)

/** A member process of the benchmark's cluster, driven through its stdin and stdout (`bench/scalingMember.ts`). */
interface Member {
  readonly child: ChildProcess
  tasks: number[]
  readonly exited: Promise<void>
  /** Sends `drain` and resolves on `drained`. */
  drain(): Promise<void>
}

function spawnMember(args: readonly string[]): Member {
  const compiled = !import.meta.url.endsWith('.ts')
  const script = fileURLToPath(new URL(compiled ? './scalingMember.js' : './scalingMember.ts', import.meta.url))
  const child = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const waiting: { resolve(): void; reject(e: Error): void }[] = []
  const member: Member = {
    child,
    tasks: [],
    exited,
    drain: () => new Promise((resolve, reject) => (waiting.push({ resolve, reject }), child.stdin!.write('drain\n'))),
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('tasks ')) member.tasks = line.slice(6).split(',').filter((x) => x !== '').map(Number)
    else if (line === 'drained') waiting.shift()?.resolve()
    else if (line.startsWith('failed ')) waiting.shift()?.reject(new Error(`a member failed: ${line.slice(7)}`))
  })
  void exited.then(() => waiting.splice(0).forEach((w) => w.reject(new Error(`member ${child.pid} exited`))))
  return member
}

interface ClusterRun {
  readonly dir: string
  readonly members: Member[]
  startupMs: number
  warmupMs: number
  cpu?: Record<string, number>
  /** Drains after the first one, needed because tasks moved while draining. */
  extraDrains: number
}

let clusters = 0

function onProcesses(staged: string, redisUrl: () => string, processes: number) {
  return phasedCase(`${SCALING_PARTITIONS} tasks on ${processes} process${processes > 1 ? 'es' : ''}`, SCALING_ROWS, {
    async setup(): Promise<ClusterRun> {
      const run: ClusterRun = { dir: mkdtempSync(join(tmpdir(), 'srx-bench-cluster-')), members: [], startupMs: 0, warmupMs: 0, extraDrains: 0 }
      const input = join(run.dir, 'in')
      emptyPartitions(input)
      const args = [redisUrl(), `bench-${process.pid}-${++clusters}`, input, join(run.dir, 'out'), join(run.dir, 'ckpt'), String(SCALING_PARTITIONS)]
      const t0 = performance.now()
      for (let i = 0; i < processes; i++) run.members.push(spawnMember(args))
      // Started once the members have split the tasks evenly (each its fair share); then they drain the warm-up.
      const share = SCALING_PARTITIONS / processes
      while (!run.members.every((m) => m.tasks.length === share) || new Set(run.members.flatMap((m) => m.tasks)).size !== SCALING_PARTITIONS) {
        if (run.members.some((m) => m.child.exitCode !== null)) throw new Error('a cluster member exited while starting')
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const t1 = performance.now()
      // The warm-up comes once the tasks are split: a member that must hand tasks over does so after its current
      // batch, and a batch of the warm-up's size would hold the split up.
      linkInput(staged, input, WARMUP_FILE)
      await Promise.all(run.members.map((m) => m.drain()))
      run.startupMs = t1 - t0
      run.warmupMs = performance.now() - t1
      linkInput(staged, input, INPUT_FILE)
      return run
    },
    async run(run) {
      const pids = run.members.map((m) => m.child.pid!)
      const before = threadCpuMs(pids)
      // A member's drain covers the tasks it runs; a task that moved meanwhile (a lease lost on a loaded host) is
      // drained by its new owner in the next round, until the output holds every row.
      do await Promise.all(run.members.map((m) => m.drain()))
      while ((await countedRows(join(run.dir, 'out'))) < WARMUP_ROWS + SCALING_ROWS && ++run.extraDrains < 20)
      run.cpu = cpuSpent(before, threadCpuMs(pids), processes)
      if (run.extraDrains > 0) console.warn(`  (${run.extraDrains} more drain${run.extraDrains > 1 ? 's' : ''}: tasks moved while draining)`)
    },
    async check(run) {
      await stopMembers(run.members)
      return countedRows(join(run.dir, 'out'))
    },
    extraMs: (run) => ({ 'start-up (spawn, balance)': run.startupMs, 'warm-up drain': run.warmupMs, ...run.cpu }),
    async teardown(run) {
      for (const m of run.members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL')
      await Promise.all(run.members.map((m) => m.exited))
      rmSync(run.dir, { recursive: true, force: true })
    },
  })
}

async function stopMembers(members: readonly Member[]): Promise<void> {
  for (const m of members) m.child.stdin!.end('stop\n')
  await Promise.all(members.map((m) => m.exited))
  const failed = members.filter((m) => m.child.exitCode !== 0)
  if (failed.length > 0) throw new Error(`cluster members exited with ${failed.map((m) => m.child.exitCode ?? m.child.signalCode).join(', ')}`)
}

export const scalingProcessesGroup: BenchGroup = {
  name: 'scaling-processes',
  description:
    `parse-heavy windowed count, steady state over ${SCALING_ROWS} rows in ${SCALING_PARTITIONS} partitions: ` +
    '2 processes of one cluster vs 1 (coordinator on redis-server, loopback)',
  async prepare() {
    const staged = mkdtempSync(join(tmpdir(), 'srx-bench-cluster-in-'))
    const redis = await startRedis()
    try {
      await stageScalingInput(staged)
    } catch (e) {
      await redis.close()
      throw e
    }
    const one = onProcesses(staged, () => redis.url, 1)
    const two = onProcesses(staged, () => redis.url, 2)
    return {
      cases: [one, two],
      comparisons: [{ title: '2 processes vs 1 (steady state)', subject: two.name, baseline: one.name, target: 1.7 }],
      async dispose() {
        await redis.close()
        rmSync(staged, { recursive: true, force: true })
      },
    }
  },
}
