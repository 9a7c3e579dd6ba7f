import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countActivity } from '../../src/cli/liveActivity.js'
import { readJsonFilesSink } from '../../src/index.js'

const run = promisify(execFile)
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts')

/** `structured-rx demo` in its own process, as `npm run demo -- …` runs it. */
async function demo(dir: string): Promise<string> {
  const { stdout, stderr } = await run(
    process.execPath,
    // Event time is the wall clock: two 8 s runs span more than a 10 s window plus the 2 s watermark delay, so at
    // least one window closes whatever the alignment (two 4 s runs closed one only when a boundary fell early).
    ['--import', 'tsx', MAIN, 'demo', '--dir', dir, '--duration', '8s', '--rate', '500', '--port', '0'],
    { timeout: 180_000 },
  )
  expect(stderr).toBe('')
  return stdout
}

function finalTable(out: string): [string, number][] {
  const table = out.slice(out.indexOf('activity_counts, final:'))
  return [...table.matchAll(/^\| *(\w+)\| *(\d+)\|$/gm)].filter((m) => m[1] !== 'key').map((m) => [m[1]!, Number(m[2])])
}

describe('structured-rx demo, run twice on the same --dir in child processes', () => {
  let dir = ''
  let first = ''
  let second = ''
  let firstRows = 0

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srx-demo-e2e-'))
    first = await demo(dir)
    firstRows = (await countActivity(join(dir, 'activity-data'))).rows
    second = await demo(dir)
  }, 400_000)
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('the first run starts fresh and its table counts every row it wrote', () => {
    expect(first).toContain('Starting fresh: no checkpoint')
    expect(first).toMatch(/^dashboard {3}http:\/\/127\.0\.0\.1:\d+\//m)
    expect(first).toContain(`counts match the data: ${firstRows} rows`)
    expect(finalTable(first).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(0)
  })

  it('the second run says it resumes, keeps the query id, and its table counts both runs’ rows', async () => {
    const lastBatch = Number(/stopped after batch (\d+) of activity_counts/.exec(first)![1])
    expect(second).toContain(`Resuming from the checkpoints: activity_counts committed batches up to ${lastBatch};`)
    expect(second).toMatch(/activity_counts query id [0-9a-f-]+ \(the same as before\), new runId/)
    const data = await countActivity(join(dir, 'activity-data'))
    expect(data.rows).toBeGreaterThan(firstRows)
    const want = [...data.byActivity].filter(([gt]) => gt !== 'null').sort(([a], [b]) => a.localeCompare(b))
    expect(finalTable(second)).toEqual(want)
    expect(second).toContain(`counts match the data: ${data.rows} rows`)
    expect(Number(/stopped after batch (\d+)/.exec(second)![1])).toBeGreaterThan(lastBatch)
  })

  it('the windowed query wrote each user and window once across both runs', async () => {
    const windows = await readJsonFilesSink<{ key: string; window: { start: number; end: number }; count: number }>(
      join(dir, 'output', 'user_windows'),
    )
    expect(windows.length).toBeGreaterThan(0)
    expect(new Set(windows.map((w) => `${w.key}@${w.window.start}`)).size).toBe(windows.length)
    for (const w of windows) expect(w.window.end - w.window.start).toBe(10_000)
  })
})
