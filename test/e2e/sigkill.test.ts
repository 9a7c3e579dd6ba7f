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
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readJsonFilesSink } from '../../src/index.js'
import { batchFileName, keepRow, project } from './crashQuery.js'
import { InputFiles } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'

const script = join(import.meta.dirname, 'crashQuery.ts')
const cleanup = useStormCleanups()

type Mode = 'stateless' | 'stateful'

/**
 * Kills and restarts the query until it was killed 10 times, then lets a run exit 0 by itself. When a run drains
 * the input before that, more files are added, as new data arriving between restarts.
 */
async function crashUntilDone(mode: Mode) {
  const root = await mkdtemp(join(tmpdir(), `srx-sigkill-${mode}-`))
  cleanup(() => rm(root, { recursive: true, force: true }))
  const random = stormRandom()
  const inputDir = join(root, 'input')
  const outDir = join(root, 'out')
  await mkdir(inputDir, { recursive: true })
  await mkdir(outDir, { recursive: true })
  const input = new InputFiles(inputDir, random.next, 50)
  await input.addFiles(40)
  const spec = { script, args: [mode, inputDir, outDir, join(root, 'checkpoint')], minKills: 10, topUp: () => input.addFiles(20) }
  await runStorm(`sigkill ${mode}`, spec, random, () => input.rows.length)
  return { input, outDir }
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
  it('writes every row of a stateless query to the JSON files sink exactly once', async () => {
    const run = await crashUntilDone('stateless')
    const output = await readJsonFilesSink<ReturnType<typeof project>>(run.outDir)
    const expected = run.input.rows.filter(keepRow).map(project)
    expect(output.length).toBe(expected.length)
    expect([...output].sort((a, b) => a.id - b.id)).toEqual(expected)
  }, 300_000) // mostly child start-up, which a loaded machine stretches

  it('ends a stateful update-mode count with the exact count of every key', async () => {
    const run = await crashUntilDone('stateful')
    const expected: Record<string, number> = {}
    for (const row of run.input.rows) expected[row.key] = (expected[row.key] ?? 0) + 1
    expect(await latestCounts(run.outDir)).toEqual(expected)
    expect(await readdir(run.outDir)).toContain(batchFileName(0))
  }, 300_000)
})
