/**
 * `npx tsx bench/mapFilterRetention.ts`: where the `map(literal)+filter` gap to its hand loop comes from. The same
 * 1,000,000 rows in 10 batches of 100,000 run four ways in interleaved rounds: the engine query exactly as the
 * benchmark runs it (its sink keeps the last batch, as `bench/query.ts` does), the engine with a sink that keeps
 * nothing, the benchmark's hand loop (keeps nothing), and the hand loop keeping its last output array as the sink
 * does. Prints per way the median wall time, the main thread's on-CPU time and that of all threads (garbage
 * collection helpers included), read from /proc/self/task/<tid>/schedstat, which does not count waiting for a core.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { createSession, filter, foreachBatch, map, memorySource } from '../src/index.js'
import { chunks, generateRows, type Row } from './data.js'

type Out = Row & { v2: number }
const batches = chunks(generateRows({ count: 1_000_000, keys: 1_000, seed: 1 }), 100_000)
const cpuOf = (task: string) => Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6
const mainCpu = () => cpuOf(String(process.pid))
function allCpu(): number {
  let sum = 0
  for (const task of readdirSync('/proc/self/task')) {
    try {
      sum += cpuOf(task)
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return sum
}

let kept: readonly Out[] = []

/** A way to run: `run` is timed, `done` (stopping a query) is not. */
interface Way {
  run(): Promise<number>
  done(): Promise<void>
}

async function engine(keepLast: boolean): Promise<Way> {
  const input = memorySource<Row>()
  let rows = 0
  const sink = foreachBatch<Out>((batch) => {
    rows += batch.length
    if (keepLast) kept = batch
  })
  const query = await createSession({ shufflePartitions: 8 })
    .readStream(input.source)
    .pipe(
      map((r) => ({ key: r.key, v: r.v, v2: r.v * 2 })),
      filter((r) => r.v2 % 3 !== 0),
    )
    .writeStream({ outputMode: 'append', sink })
    .start()
  await query.processAllAvailable()
  return {
    async run() {
      for (const batch of batches) {
        input.addData(batch)
        await query.processAllAvailable()
      }
      return rows
    },
    done: () => query.stop(),
  }
}

function handLoop(keepLast: boolean): Way {
  const run = async () => {
    let rows = 0
    for (const batch of batches) {
      const out: Out[] = []
      for (const r of batch) {
        const m = { key: r.key, v: r.v, v2: r.v * 2 }
        if (m.v2 % 3 !== 0) out.push(m)
      }
      rows += out.length
      if (keepLast) kept = out
    }
    return rows
  }
  return { run, done: async () => {} }
}

const ways: Record<string, () => Promise<Way>> = {
  'engine, sink keeps the last batch (the benchmark)': () => engine(true),
  'engine, sink keeps nothing': () => engine(false),
  'hand loop, keeps nothing (the benchmark)': async () => handLoop(false),
  'hand loop, keeps its last batch': async () => handLoop(true),
}
const names = Object.keys(ways)
const samples = new Map(names.map((n) => [n, [] as { wall: number; main: number; all: number }[]]))
const load = loadavg()[0]!
for (let round = 0; round < 12; round++) {
  for (let j = 0; j < names.length; j++) {
    const name = names[(round + j) % names.length]!
    const way = await ways[name]!()
    const [t0, m0, a0] = [performance.now(), mainCpu(), allCpu()]
    const rows = await way.run()
    const sample = { wall: performance.now() - t0, main: mainCpu() - m0, all: allCpu() - a0 }
    await way.done()
    if (rows !== 665_834) throw new Error(`${name}: ${rows} rows`)
    if (round >= 3) samples.get(name)!.push(sample)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(`9 timed rounds after 3 warm-up; load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs; ${kept.length} rows kept last`)
for (const [name, xs] of samples) {
  const [wall, main, all] = (['wall', 'main', 'all'] as const).map((k) => median(xs.map((x) => x[k])).toFixed(0))
  console.log(`${name.padEnd(50)} wall ${wall} ms, main thread on-CPU ${main} ms, all threads ${all} ms`)
}
