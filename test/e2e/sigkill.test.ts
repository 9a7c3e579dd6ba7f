/**
 * Real-process crash test: a query runs in a child process (`crashQuery.ts`), is killed with SIGKILL at
 * random moments, and restarted on the same checkpoint until a run drains its input and exits 0. The output must
 * then hold every input row exactly once (stateless), or the exact count per key (stateful).
 *
 * The seed (printed with the kill delays) fixes the input and the delays; `SRX_SIGKILL_SEED=<seed> npx vitest run
 * test/e2e/sigkill.test.ts` replays them, though where a kill lands also depends on the machine's speed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { readJsonFilesSink } from '../../src/index.js'
import { batchFileName, type InputRow, keepRow, project } from './crashQuery.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '..', '..')
const script = join(here, 'crashQuery.ts')

const MIN_KILLS = 10
const FILES_AT_START = 40
const FILES_PER_TOP_UP = 20
const ROWS_PER_FILE = 50
const KEYS = 7
const MAX_KILL_DELAY_MS = 300
/** Share of kills aimed at start-up (lock take-over, recovery) rather than at running batches. */
const STARTUP_KILL_SHARE = 0.2

type Mode = 'stateless' | 'stateful'

/** mulberry32: a tiny seeded generator, so a failing run can be replayed from its printed seed. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The input so far: files written to the input directory, and every row in them. */
class Input {
  readonly rows: InputRow[] = []
  private files = 0

  constructor(
    private readonly dir: string,
    private readonly next: () => number,
  ) {}

  async addFiles(n: number): Promise<void> {
    for (let f = 0; f < n; f++) {
      const rows: InputRow[] = []
      for (let i = 0; i < ROWS_PER_FILE; i++) {
        const key = `k${Math.floor(this.next() * KEYS)}`
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

/** Runs the child once; kills it `killAfterMs` after it printed `started` (or after spawn, when `fromSpawn`). */
async function runChild(args: string[], kill: { afterMs: number; fromSpawn: boolean } | undefined): Promise<RunOutcome> {
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
  if (code !== 0) throw new Error(`crashQuery ${args.join(' ')} exited with ${code ?? signal}:\n${stderr}`)
  return { killed: false, started: true, startupMs }
}

interface CrashRun {
  readonly input: Input
  readonly outDir: string
  readonly kills: number
  readonly killsWhileRunning: number
  readonly runs: number
}

/**
 * Kills and restarts the query until it was killed MIN_KILLS times, then lets a run exit 0 by itself. When a run
 * drains the input before that, more files are added, as new data arriving between restarts.
 */
async function crashUntilDone(mode: Mode, root: string, seed: number): Promise<CrashRun> {
  const next = random(seed)
  const inputDir = join(root, 'input')
  const outDir = join(root, 'out')
  await mkdir(inputDir, { recursive: true })
  await mkdir(outDir, { recursive: true })
  const input = new Input(inputDir, next)
  await input.addFiles(FILES_AT_START)
  const args = [mode, inputDir, outDir, join(root, 'checkpoint')]
  const delays: string[] = []
  let kills = 0
  let killsWhileRunning = 0
  let runs = 0
  let startupEstimateMs = 1000
  for (;;) {
    runs++
    const wantKill = kills < MIN_KILLS
    const fromSpawn = next() < STARTUP_KILL_SHARE
    const afterMs = Math.round(fromSpawn ? next() * startupEstimateMs : 2 + next() * (MAX_KILL_DELAY_MS - 2))
    const outcome = await runChild(args, wantKill ? { afterMs, fromSpawn } : undefined)
    if (outcome.startupMs !== undefined) startupEstimateMs = outcome.startupMs
    if (outcome.killed) {
      kills++
      if (outcome.started) killsWhileRunning++
      delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms`)
      continue
    }
    if (!wantKill) break
    delays.push(`${fromSpawn ? 'spawn' : 'started'}+${afterMs}ms:drained`)
    await input.addFiles(FILES_PER_TOP_UP)
  }
  console.log(
    `sigkill ${mode}: seed=${seed} runs=${runs} kills=${kills} (${killsWhileRunning} after start) ` +
      `input=${input.rows.length} rows; kill delays: ${delays.join(' ')}`,
  )
  return { input, outDir, kills, killsWhileRunning, runs }
}

function seedOf(): number {
  const fromEnv = process.env.SRX_SIGKILL_SEED
  return fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv)
}

/** The stateful mode's result table: the latest row per key, reading batch files in batchId order. */
async function latestCounts(outDir: string): Promise<Record<string, number>> {
  const files = (await readdir(outDir)).filter((n) => /^batch-\d+\.json$/.test(n)).sort()
  const counts: Record<string, number> = {}
  for (const file of files) {
    const rows = JSON.parse(await readFile(join(outDir, file), 'utf8')) as { key: string; count: number }[]
    for (const row of rows) counts[row.key] = row.count
  }
  return counts
}

describe('a query killed with SIGKILL at random moments and restarted until it drains', () => {
  let root: string | undefined
  afterEach(async () => {
    for (const child of running) child.kill('SIGKILL')
    running.clear()
    if (root !== undefined) await rm(root, { recursive: true, force: true })
    root = undefined
  })

  it('writes every row of a stateless query to the JSON files sink exactly once', async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-sigkill-stateless-'))
    const run = await crashUntilDone('stateless', root, seedOf())
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const output = await readJsonFilesSink<ReturnType<typeof project>>(run.outDir)
    const expected = run.input.rows.filter(keepRow).map(project)
    expect(output.length).toBe(expected.length)
    expect([...output].sort((a, b) => a.id - b.id)).toEqual(expected)
  }, 90_000)

  it('ends a stateful update-mode count with the exact count of every key', async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-sigkill-stateful-'))
    const run = await crashUntilDone('stateful', root, seedOf())
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const expected: Record<string, number> = {}
    for (const row of run.input.rows) expected[row.key] = (expected[row.key] ?? 0) + 1
    expect(await latestCounts(run.outDir)).toEqual(expected)
    expect(await readdir(run.outDir)).toContain(batchFileName(0))
  }, 90_000)
})
