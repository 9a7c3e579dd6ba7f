/**
 * `npm run bench:timeline` (or `node .bench-build/bench/checkpointTimeline.js [rounds]` after `tsc -p
 * tsconfig.bench.json`): what a checkpoint costs per micro-batch of the `checkpoint-overhead` query (group-by-count,
 * 1,000 keys, 1,000,000 rows in 10 batches of 100,000, 8 partitions), in figures that hold on a loaded machine.
 * Rounds alternate the query with and without a checkpoint and print, per way, the medians of: wall time, the main
 * thread's on-CPU time and that of all threads (`/proc/self/task/<tid>/schedstat`, which does not count waiting for
 * a core), and the thread-pool trips (`FSREQCALLBACK` requests counted with `async_hooks`). The last checkpointed
 * round is also printed as a timeline: every file-system call of every batch with its start and end, and each sink
 * call, in ms from the first `addData`, so one sees which wait follows which.
 */
import { createHook } from 'node:async_hooks'
import * as fs from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { writerThread } from '../src/durable/writerThread.js'
import { count, createSession, foreachBatch, groupBy, memorySource } from '../src/index.js'
import { generateRows, type Row } from './data.js'

const rounds = Number(process.argv[2] ?? 8)
const rows = generateRows({ count: 1_000_000, keys: 1_000, seed: 7 })
const scratch = fs.mkdtempSync(join(tmpdir(), 'srx-timeline-'))
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }))

const cpuOf = (task: string) => Number(fs.readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6
const mainCpu = () => cpuOf(String(process.pid))
function allCpu(): number {
  let sum = 0
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      sum += cpuOf(task)
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return sum
}

// Thread-pool trips: every callback-API fs request is one FSREQCALLBACK.
let trips = 0
createHook({ init: (_id, type) => void (type === 'FSREQCALLBACK' && trips++) }).enable()

// The timeline: node:fs's callback functions wrapped while `recording`, and ESM namespaces synced to the wrappers.
interface Event {
  readonly op: string
  readonly what: string
  readonly start: number
  end: number
}
let recording = false
let origin = 0
const events: Event[] = []
const fdPaths = new Map<number, string>()
const short = (path: string) => path.slice(path.indexOf('/ckpt') + 6 + path.slice(path.indexOf('/ckpt') + 6).indexOf('/') + 1)
const mutableFs = createRequire(import.meta.url)('node:fs') as Record<string, (...args: unknown[]) => unknown>
for (const op of ['open', 'write', 'fsync', 'close', 'rename', 'lstat', 'fstat', 'read']) {
  const inner = mutableFs[op]!
  mutableFs[op] = (...args: unknown[]) => {
    if (!recording) return inner(...args)
    const callback = args.pop() as (...results: unknown[]) => void
    const what = typeof args[0] === 'number' ? (fdPaths.get(args[0]) ?? `fd ${args[0]}`) : short(String(args[0]))
    const event: Event = { op, what, start: performance.now() - origin, end: Number.NaN }
    events.push(event)
    return inner(...args, (error: unknown, ...results: unknown[]) => {
      event.end = performance.now() - origin
      if (op === 'open' && error === null) fdPaths.set(results[0] as number, event.what)
      callback(error, ...results)
    })
  }
}
syncBuiltinESMExports()
// Writes done on the writer thread, where there is one: from the post to the answer.
const threadWrite = writerThread.write.bind(writerThread)
writerThread.write = (path, temp, bytes, after = []) => {
  const written = threadWrite(path, temp, bytes, after)
  if (recording) {
    const event: Event = { op: 'thread', what: `${short(path)}${after.length > 0 ? ` (after ${after.length})` : ''}`, start: performance.now() - origin, end: Number.NaN }
    events.push(event)
    written.then(() => void (event.end = performance.now() - origin), () => undefined)
  }
  return written
}

interface Sample {
  wall: number
  main: number
  all: number
  trips: number
}

async function once(checkpoint: boolean, record: boolean): Promise<Sample> {
  const input = memorySource<Row>({ maxRowsPerTrigger: 100_000 })
  let sinkCalls = 0
  const query = await createSession({ shufflePartitions: 8 })
    .readStream(input.source)
    .pipe(groupBy((r: Row) => r.key, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: foreachBatch<{ key: string; count: number }>(() => {
        if (recording) events.push({ op: 'SINK', what: `batch ${sinkCalls}`, start: performance.now() - origin, end: performance.now() - origin })
        sinkCalls++
      }),
      checkpointLocation: checkpoint ? join(scratch, `ckpt-${Math.random().toString(36).slice(2)}`) : undefined,
    })
    .start()
  await query.processAllAvailable()
  sinkCalls = 0
  if (record) events.length = 0
  const [wall0, main0, all0, trips0] = [performance.now(), mainCpu(), allCpu(), trips]
  origin = wall0
  recording = record
  input.addData(rows)
  await query.processAllAvailable()
  recording = false
  const sample = { wall: performance.now() - wall0, main: mainCpu() - main0, all: allCpu() - all0, trips: trips - trips0 }
  await query.stop()
  if (query.exception) throw query.exception
  return sample
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ways = { checkpoint: [] as Sample[], memory: [] as Sample[] }
const load0 = loadavg()[0]!
for (let r = 0; r < rounds + 2; r++) {
  const order: (keyof typeof ways)[] = r % 2 === 0 ? ['checkpoint', 'memory'] : ['memory', 'checkpoint']
  for (const way of order) {
    const sample = await once(way === 'checkpoint', way === 'checkpoint' && r === rounds + 1)
    if (r >= 2) ways[way].push(sample)
  }
}
const load1 = loadavg()[0]!
const format = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`
console.log(`rounds ${rounds} (+2 warm-up), load ${load0.toFixed(2)} → ${load1.toFixed(2)}; per 1,000,000 rows, median (range):`)
for (const [way, samples] of Object.entries(ways)) {
  console.log(
    `  ${way.padEnd(10)} wall ${format(samples.map((s) => s.wall))} ms | main-thread cpu ${format(samples.map((s) => s.main))} ms | ` +
      `all threads ${format(samples.map((s) => s.all))} ms | pool trips ${format(samples.map((s) => s.trips))}`,
  )
}
const paired = ways.checkpoint.map((s, i) => s.main - ways.memory[i]!.main)
const pairedWall = ways.checkpoint.map((s, i) => ways.memory[i]!.wall / s.wall)
console.log(`  extra main-thread cpu per 1M rows, paired by round: ${format(paired)} ms; ratio (rows/s with / without): ${format(pairedWall)}`)
if (process.env.TIMELINE !== '0') {
  console.log('timeline of the last checkpointed round (ms from addData; start → end, duration):')
  for (const e of events) console.log(`  ${e.start.toFixed(2).padStart(8)} → ${e.end.toFixed(2).padStart(8)} ${(e.end - e.start).toFixed(2).padStart(6)}  ${e.op.padEnd(6)} ${e.what}`)
}
