/**
 * Restart benchmark: restarting a query whose checkpoint holds 1,000,000 keys of group-by-count state, against
 * reading and decoding its snapshot file alone, and restarting one that holds 2,000,000 keys, against the 1,000,000
 * case — all in the same rounds.
 *
 * Every repetition of every case runs in a fresh `node` process (`bench/restartChild.ts`), started the same way
 * and timed the same way: the child loads its modules and runs its untimed setup, then times its part and prints
 * the figures. A real restart is a new process; timed in the process that just built the checkpoint (and the
 * million input rows of the previous repetition), a restart paid for collecting that process's garbage and ran on
 * its grown heap, which the decode baseline, allocating nothing before its timed part, did not. The cases that do
 * so (the method of earlier rounds) are added beside the fresh-process ones, for comparison, when the environment
 * sets BENCH_RESTART_SAME_PROCESS=1.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BenchCase, type BenchGroup, type Comparison, type Sample } from './harness.js'
import { buildState, timedDecode, timedRestart, type TimedPart } from './restartWork.js'

const scratch = mkdtempSync(join(tmpdir(), 'srx-bench-restart-'))
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }))

/** A checkpoint and the source offset it committed: each timed restart commits one more batch. */
interface Checkpoint {
  readonly location: string
  offset: number
}

/** Runs one repetition in a fresh process and returns what it printed. */
function inChild(args: readonly string[]): Promise<TimedPart> {
  const compiled = !import.meta.url.endsWith('.ts')
  const script = fileURLToPath(new URL(compiled ? './restartChild.js' : './restartChild.ts', import.meta.url))
  const child = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`restart bench child (${args.join(' ')}) exited with ${code}: ${err.trim()}`))
      try {
        resolve(JSON.parse(out) as TimedPart)
      } catch {
        reject(new Error(`restart bench child (${args.join(' ')}) printed no figures: ${out.trim()} ${err.trim()}`))
      }
    })
  })
}

function timedCase(name: string, rows: number, part: () => Promise<TimedPart>): BenchCase {
  return { name, rows, once: async (): Promise<Sample> => await part() }
}

function restartCase(name: string, keys: number, checkpoint: Checkpoint, fresh: boolean): BenchCase {
  return timedCase(name, keys, async () => {
    const args = [checkpoint.location, checkpoint.offset, keys] as const
    const part = fresh ? await inChild(['restart', ...args.map(String), 'shared']) : await timedRestart(...args, 'distinct')
    checkpoint.offset++
    return part
  })
}

function decodeCase(name: string, stateDir: string, fresh: boolean): BenchCase {
  return timedCase(name, 1_000_000, () => (fresh ? inChild(['decode', stateDir, '1000000']) : timedDecode(stateDir, 1_000_000)))
}

/** The three cases and two comparisons, each repetition in a fresh process or (`fresh` false) in this one. */
function casesOf(million: Checkpoint, twoMillion: Checkpoint, fresh: boolean): { cases: BenchCase[]; comparisons: Comparison[] } {
  const suffix = fresh ? '' : ' (same process)'
  const names = { one: `restart, 1M keys${suffix}`, decode: `read + decode the 1M snapshot file${suffix}`, two: `restart, 2M keys${suffix}` }
  return {
    cases: [
      restartCase(names.one, 1_000_000, million, fresh),
      decodeCase(names.decode, join(million.location, 'state', 'count'), fresh),
      restartCase(names.two, 2_000_000, twoMillion, fresh),
    ],
    comparisons: [
      { title: `restart of 1M keys ≤ 1.2× reading + decoding its snapshot${suffix}`, subject: names.one, baseline: names.decode, target: 0.83 },
      { title: `restart of 2M keys ≤ 2× the time of 1M (rows/s ≥ 1×)${suffix}`, subject: names.two, baseline: names.one, target: 1 },
    ],
  }
}

export const restartGroup: BenchGroup = {
  name: 'restart',
  description:
    'restart (start() until the first new batch committed) of a query holding 1,000,000 keys of state vs reading and ' +
    'decoding its snapshot file alone, and of one holding 2,000,000 keys vs the 1,000,000 case; every repetition in a fresh process',
  async prepare() {
    const million: Checkpoint = await buildState(join(scratch, 'keys-1000000'), 1_000_000)
    const twoMillion: Checkpoint = await buildState(join(scratch, 'keys-2000000'), 2_000_000)
    const fresh = casesOf(million, twoMillion, true)
    if (process.env.BENCH_RESTART_SAME_PROCESS !== '1') return fresh
    const same = casesOf(million, twoMillion, false)
    return { cases: [...fresh.cases, ...same.cases], comparisons: [...fresh.comparisons, ...same.comparisons] }
  },
}
