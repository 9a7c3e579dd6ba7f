/**
 * The shared harness of the real-process crash storms: a query runs as a child process, is killed with SIGKILL at
 * random moments (some during start-up, most while batches run) and restarted on the same checkpoint until it has
 * been killed `minKills` times; then one run must drain its input and exit 0 by itself. `runStorm` adds what every
 * storm test does around that loop: the seed, the defaults, the printed summary and the checks on the kills.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, expect } from 'vitest'

const REPO_ROOT = join(import.meta.dirname, '..', '..')

/** mulberry32: a tiny seeded generator, so a failing storm can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The storm's seed: `SRX_SIGKILL_SEED` when set (to replay), random otherwise. */
export function stormSeed(): number {
  const fromEnv = process.env.SRX_SIGKILL_SEED
  return fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv)
}

/** A storm's seed (printed, so `SRX_SIGKILL_SEED=<seed>` replays the input and the kill delays) and its generator. */
export function stormRandom(): { readonly seed: number; readonly next: () => number } {
  const seed = stormSeed()
  return { seed, next: seededRandom(seed) }
}

/**
 * The clean-up of a storm test file: after each test, kills the children a storm left running, then runs the
 * clean-ups added during the test, last first (a client before its server). Returns the function that adds one.
 */
export function useStormCleanups(): (...cleanups: (() => unknown)[]) => void {
  const pending: (() => unknown)[] = []
  afterEach(async () => {
    killStormChildren()
    for (const cleanup of pending.splice(0).reverse()) await cleanup()
  })
  return (...cleanups) => void pending.push(...cleanups)
}

/** A storm as a test gives it: the shared defaults fill in the rest (kills up to 300 ms in, a fifth at start-up). */
export type StormSpec = Omit<StormOptions, 'cwd' | 'maxKillDelayMs' | 'startupKillShare'> &
  Partial<Pick<StormOptions, 'maxKillDelayMs' | 'startupKillShare'>>

/**
 * Runs a storm from the repository root, prints its seed, runs, kills and their delays beside `label` and the input
 * size, and checks what every storm must show: at least `minKills` kills, some of them while batches ran.
 */
export async function runStorm(
  label: string,
  spec: StormSpec,
  random: { readonly seed: number; readonly next: () => number },
  inputRows: () => number,
): Promise<StormResult> {
  const run = await crashStorm({ cwd: REPO_ROOT, maxKillDelayMs: 300, startupKillShare: 0.2, ...spec }, random.next)
  console.log(
    `storm ${label}: seed=${random.seed} runs=${run.runs} kills=${run.kills} (${run.killsWhileRunning} after start) ` +
      `input=${inputRows()} rows; kill delays: ${run.delays.join(' ')}`,
  )
  expect(run.kills).toBeGreaterThanOrEqual(spec.minKills)
  expect(run.killsWhileRunning).toBeGreaterThan(0)
  return run
}

export interface StormOptions {
  readonly script: string
  readonly args: readonly string[]
  readonly cwd: string
  readonly minKills: number
  readonly maxKillDelayMs: number
  /** Share of kills aimed at start-up (lock take-over, recovery, reconnecting) rather than at running batches. */
  readonly startupKillShare: number
  /** Adds input when a run drained everything before the storm is over (new data arriving between restarts). */
  readonly topUp: () => Promise<void>
}

export interface StormResult {
  readonly kills: number
  readonly killsWhileRunning: number
  readonly runs: number
  readonly delays: readonly string[]
}

const running = new Set<ChildProcess>()

/** Kills every child a storm left running (for afterEach). */
export function killStormChildren(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

export async function crashStorm(options: StormOptions, next: () => number): Promise<StormResult> {
  const delays: string[] = []
  let kills = 0
  let killsWhileRunning = 0
  let runs = 0
  let startupEstimateMs = 1000
  for (;;) {
    runs++
    const wantKill = kills < options.minKills
    const fromSpawn = next() < options.startupKillShare
    const afterMs = Math.round(fromSpawn ? next() * startupEstimateMs : 2 + next() * (options.maxKillDelayMs - 2))
    const outcome = await runChild(options, wantKill ? { afterMs, fromSpawn } : undefined)
    if (outcome.startupMs !== undefined) startupEstimateMs = outcome.startupMs
    if (outcome.killed) {
      kills++
      if (outcome.started) killsWhileRunning++
      delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms`)
      continue
    }
    if (!wantKill) break
    delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms:drained`)
    await options.topUp()
  }
  return { kills, killsWhileRunning, runs, delays }
}

interface RunOutcome {
  readonly killed: boolean
  readonly started: boolean
  readonly startupMs: number | undefined
}

/** Runs the child once; kills it `afterMs` after it printed `started` (or after spawn, when `fromSpawn`). */
async function runChild(options: StormOptions, kill: { afterMs: number; fromSpawn: boolean } | undefined): Promise<RunOutcome> {
  const spawnedAt = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', options.script, ...options.args], {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stderr = ''
  let startupMs: number | undefined
  let timer: NodeJS.Timeout | undefined
  let killed = false
  const killNow = () => {
    killed = child.kill('SIGKILL')
  }
  if (kill?.fromSpawn) timer = setTimeout(killNow, kill.afterMs)
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    if (startupMs === undefined && text.includes('started')) {
      startupMs = Date.now() - spawnedAt
      if (kill !== undefined && !kill.fromSpawn) timer = setTimeout(killNow, kill.afterMs)
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  )
  clearTimeout(timer)
  running.delete(child)
  if (signal === 'SIGKILL' && killed) return { killed: true, started: startupMs !== undefined, startupMs }
  if (code !== 0) throw new Error(`${options.script} ${options.args.join(' ')} exited with ${code ?? signal}:\n${stderr}`)
  return { killed: false, started: true, startupMs }
}
