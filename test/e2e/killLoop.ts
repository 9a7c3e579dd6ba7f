/**
 * The machinery of the real-process crash tests: a query runs in a child process, is killed with SIGKILL at random
 * moments (some during start-up, most while batches run), and is restarted on the same checkpoint until it was
 * killed enough times; then a run must drain its input and exit 0 by itself. The seed fixes the input and the
 * delays (`SRX_SIGKILL_SEED=<seed>` replays them, though where a kill lands also depends on the machine's speed).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** One input row: `id` is unique, `key` one of a few keys, `v` a value. */
export interface InputRow {
  readonly id: number
  readonly key: string
  readonly v: number
}

/** mulberry32: a tiny seeded generator, so a failing run can be replayed from its printed seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed of this run: `SRX_SIGKILL_SEED` when set, else a random one (printed by {@link crashUntilDone}). */
export function seedOf(): number {
  const fromEnv = process.env.SRX_SIGKILL_SEED
  return fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv)
}

/** The input so far: JSON-lines files written to the input directory, and every row in them. */
export class InputFiles {
  readonly rows: InputRow[] = []
  private files = 0

  constructor(
    private readonly dir: string,
    private readonly next: () => number,
    private readonly rowsPerFile: number,
    private readonly keys: number,
  ) {}

  async addFiles(n: number): Promise<void> {
    for (let f = 0; f < n; f++) {
      const rows: InputRow[] = []
      for (let i = 0; i < this.rowsPerFile; i++) {
        const key = `k${Math.floor(this.next() * this.keys)}`
        rows.push({ id: this.rows.length + rows.length, key, v: Math.floor(this.next() * 100) })
      }
      // Written under a dot name and renamed, so the running query never lists a half-written file.
      const name = `part-${String(this.files++).padStart(5, '0')}.json`
      await writeFile(join(this.dir, `.${name}`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
      await rename(join(this.dir, `.${name}`), join(this.dir, name))
      this.rows.push(...rows)
    }
  }
}

interface RunOutcome {
  readonly killed: boolean
  readonly started: boolean
  readonly startupMs: number | undefined
}

const running = new Set<ChildProcess>()

/** Kills every child still running (for afterEach). */
export function killRunningChildren(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/**
 * Runs `script` once; kills it `afterMs` after it printed `started` (or after spawn, when `fromSpawn`).
 * @throws when the child exits other than by our SIGKILL or with a non-zero code, with its stderr.
 */
async function runChild(script: string, args: readonly string[], kill: { afterMs: number; fromSpawn: boolean } | undefined): Promise<RunOutcome> {
  const spawnedAt = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stderr = ''
  let startupMs: number | undefined
  let timer: NodeJS.Timeout | undefined
  let killed = false
  const killNow = () => {
    killed = child.kill('SIGKILL')
  }
  if (kill?.fromSpawn) timer = setTimeout(killNow, kill.afterMs)
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    if (startupMs === undefined && text.includes('started')) {
      startupMs = Date.now() - spawnedAt
      if (kill !== undefined && !kill.fromSpawn) timer = setTimeout(killNow, kill.afterMs)
    }
  })
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  )
  clearTimeout(timer)
  running.delete(child)
  if (signal === 'SIGKILL' && killed) return { killed: true, started: startupMs !== undefined, startupMs }
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${code ?? signal}:\n${stderr}`)
  return { killed: false, started: true, startupMs }
}

/** A crash run: the script and its arguments, the input it drains, and how hard to kill it. */
export interface Storm {
  readonly label: string
  readonly script: string
  readonly args: readonly string[]
  readonly input: InputFiles
  readonly next: () => number
  readonly seed: number
  readonly minKills: number
  /** Files added when a run drains the input before enough kills (new data arriving between restarts). */
  readonly filesPerTopUp: number
  readonly maxKillDelayMs: number
  /** Share of kills aimed at start-up (lock take-over, recovery) rather than at running batches. */
  readonly startupKillShare: number
}

/** What a storm did. */
export interface StormResult {
  readonly kills: number
  readonly killsWhileRunning: number
  readonly runs: number
}

/** Kills and restarts the script until it was killed `minKills` times, then lets a run exit 0 by itself. */
export async function crashUntilDone(storm: Storm): Promise<StormResult> {
  const { next } = storm
  const delays: string[] = []
  let kills = 0
  let killsWhileRunning = 0
  let runs = 0
  let startupEstimateMs = 1000
  for (;;) {
    runs++
    const wantKill = kills < storm.minKills
    const fromSpawn = next() < storm.startupKillShare
    const afterMs = Math.round(fromSpawn ? next() * startupEstimateMs : 2 + next() * (storm.maxKillDelayMs - 2))
    const outcome = await runChild(storm.script, storm.args, wantKill ? { afterMs, fromSpawn } : undefined)
    if (outcome.startupMs !== undefined) startupEstimateMs = outcome.startupMs
    if (outcome.killed) {
      kills++
      if (outcome.started) killsWhileRunning++
      delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms`)
      continue
    }
    if (!wantKill) break
    delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms:drained`)
    await storm.input.addFiles(storm.filesPerTopUp)
  }
  console.log(
    `sigkill ${storm.label}: seed=${storm.seed} runs=${runs} kills=${kills} (${killsWhileRunning} after start) ` +
      `input=${storm.input.rows.length} rows; kill delays: ${delays.join(' ')}`,
  )
  return { kills, killsWhileRunning, runs }
}
