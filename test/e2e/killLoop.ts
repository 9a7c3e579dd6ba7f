/**
 * The kill-and-restart loop of the real-process crash storms: a query runs as a child process, is killed with
 * SIGKILL at random moments (some during start-up, most while batches run) and restarted on the same checkpoint
 * until it has been killed `minKills` times; then one run must drain its input and exit 0 by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process'

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
