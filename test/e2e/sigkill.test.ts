/**
 * Real-process crash test: a query runs in a child process (`crashQuery.ts`), is killed with SIGKILL at
 * random moments, and restarted on the same checkpoint until a run drains its input and exits 0. The output must
 * then hold every input row exactly once (stateless), or the exact count per key (stateful).
 *
 * The seed (printed with the kill delays) fixes the input and the delays; `SRX_SIGKILL_SEED=<seed> npx vitest run
 * test/e2e/sigkill.test.ts` replays them, though where a kill lands also depends on the machine's speed.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { readJsonFilesSink } from '../../src/index.js'
import { batchFileName, keepRow, project } from './crashQuery.js'
import { InputFiles } from './inputFiles.js'
import { crashStorm, killStormChildren, seededRandom, stormSeed } from './killLoop.js'

const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, 'crashQuery.ts')

const MIN_KILLS = 10
const FILES_AT_START = 40
const FILES_PER_TOP_UP = 20
const ROWS_PER_FILE = 50
const KEYS = 7

type Mode = 'stateless' | 'stateful'

/**
 * Kills and restarts the query until it was killed MIN_KILLS times, then lets a run exit 0 by itself. When a run
 * drains the input before that, more files are added, as new data arriving between restarts.
 */
async function crashUntilDone(mode: Mode, root: string, seed: number) {
  const next = seededRandom(seed)
  const inputDir = join(root, 'input')
  const outDir = join(root, 'out')
  await mkdir(inputDir, { recursive: true })
  await mkdir(outDir, { recursive: true })
  const input = new InputFiles(inputDir, next, ROWS_PER_FILE, KEYS)
  await input.addFiles(FILES_AT_START)
  const run = await crashStorm(
    {
      script,
      args: [mode, inputDir, outDir, join(root, 'checkpoint')],
      cwd: join(here, '..', '..'),
      minKills: MIN_KILLS,
      maxKillDelayMs: 300,
      startupKillShare: 0.2,
      topUp: () => input.addFiles(FILES_PER_TOP_UP),
    },
    next,
  )
  console.log(
    `sigkill ${mode}: seed=${seed} runs=${run.runs} kills=${run.kills} (${run.killsWhileRunning} after start) ` +
      `input=${input.rows.length} rows; kill delays: ${run.delays.join(' ')}`,
  )
  return { ...run, input, outDir }
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
    killStormChildren()
    if (root !== undefined) await rm(root, { recursive: true, force: true })
    root = undefined
  })

  it('writes every row of a stateless query to the JSON files sink exactly once', async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-sigkill-stateless-'))
    const run = await crashUntilDone('stateless', root, stormSeed())
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const output = await readJsonFilesSink<ReturnType<typeof project>>(run.outDir)
    const expected = run.input.rows.filter(keepRow).map(project)
    expect(output.length).toBe(expected.length)
    expect([...output].sort((a, b) => a.id - b.id)).toEqual(expected)
  }, 300_000) // mostly child start-up, which a loaded machine stretches

  it('ends a stateful update-mode count with the exact count of every key', async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-sigkill-stateful-'))
    const run = await crashUntilDone('stateful', root, stormSeed())
    expect(run.kills).toBeGreaterThanOrEqual(MIN_KILLS)
    expect(run.killsWhileRunning).toBeGreaterThan(0)
    const expected: Record<string, number> = {}
    for (const row of run.input.rows) expected[row.key] = (expected[row.key] ?? 0) + 1
    expect(await latestCounts(run.outDir)).toEqual(expected)
    expect(await readdir(run.outDir)).toContain(batchFileName(0))
  }, 300_000)
})
