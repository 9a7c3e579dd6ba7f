import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { countActivity } from '../../src/cli/liveActivity.js'
import { readJsonFilesSink } from '../../src/index.js'

const run = promisify(execFile)
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts')

/** `structured-rx demo` in its own process, as `npm run demo -- …` runs it. */
async function demo(dir: string, duration = '8s'): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, demoArgs(dir, duration), { timeout: 180_000 })
  expect(stderr).toBe('')
  return stdout
}

function demoArgs(dir: string, duration: string): string[] {
  return ['--import', 'tsx', MAIN, 'demo', '--dir', dir, '--duration', duration, '--rate', '500', '--port', '0']
}

/**
 * The demo in a child process, sent SIGINT as soon as its stdout shows `ready` (a printed table with counts, so
 * batches have committed): resolves to its exit code and output.
 */
async function interruptedDemo(dir: string, ready: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, demoArgs(dir, '10 minutes'), { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let interrupted = false
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    if (!interrupted && ready.test(stdout)) {
      interrupted = true
      child.kill('SIGINT')
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  // Only a safety net for a demo that never gets ready or never stops: the test waits for output, not for time.
  const stuck = setTimeout(() => child.kill('SIGKILL'), 240_000)
  const code = await new Promise<number | null>((resolveExit) => child.on('exit', (c) => resolveExit(c)))
  clearTimeout(stuck)
  return { code, stdout, stderr }
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
    // Event time is the wall clock: two 8 s runs span more than a 10 s window plus the 2 s watermark delay, so at
    // least one window closes whatever the alignment (two 4 s runs closed one only when a boundary fell early).
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

describe('structured-rx demo stopped with Ctrl-C (SIGINT) mid-run, then run again on the same --dir', () => {
  let dir = ''
  let interrupted: { code: number | null; stdout: string; stderr: string }
  let committedAfterInterrupt: number | null = null
  let resumed = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srx-demo-sigint-'))
    // The periodic table (every 5 s) with a count in it: batches of activity_counts have committed.
    interrupted = await interruptedDemo(dir, /^activity_counts:\n(?:.*\n)*?\| *\w+\| *[1-9]\d*\|$/m)
    committedAfterInterrupt = (await inspectCheckpoint(join(dir, 'checkpoints', 'activity_counts'))).batches.lastCommitted
    resumed = await demo(dir, '3s')
  }, 400_000)
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('stops gracefully: exit code 0, nothing on stderr, the stop announced and the last batch named', () => {
    expect(interrupted.stderr).toBe('')
    expect(interrupted.code).toBe(0)
    expect(interrupted.stdout).toContain('Ctrl-C: stopping the queries after their running batch…')
    expect(interrupted.stdout).toMatch(/^stopped after batch \d+ of activity_counts\. Run the same command again to resume/m)
    expect(finalTable(interrupted.stdout).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(0)
  })

  it('leaves the last batch it names committed in the checkpoint', () => {
    const lastBatch = Number(/stopped after batch (\d+) of activity_counts/.exec(interrupted.stdout)![1])
    expect(committedAfterInterrupt).toBe(lastBatch)
  })

  it('the next run resumes from those checkpoints, says so, and its table counts every row of both runs exactly', async () => {
    const lastBatch = Number(/stopped after batch (\d+) of activity_counts/.exec(interrupted.stdout)![1])
    expect(resumed).toContain(`Resuming from the checkpoints: activity_counts committed batches up to ${lastBatch};`)
    expect(resumed).toMatch(/activity_counts query id [0-9a-f-]+ \(the same as before\), new runId/)
    const data = await countActivity(join(dir, 'activity-data'))
    const want = [...data.byActivity].filter(([gt]) => gt !== 'null').sort(([a], [b]) => a.localeCompare(b))
    expect(finalTable(resumed)).toEqual(want)
    expect(resumed).toContain(`counts match the data: ${data.rows} rows`)
  })

  it('the windowed query wrote each user and window at most once across the interrupted and the resumed run', async () => {
    const windows = await readJsonFilesSink<{ key: string; window: { start: number; end: number } }>(join(dir, 'output', 'user_windows'))
    expect(new Set(windows.map((w) => `${w.key}@${w.window.start}`)).size).toBe(windows.length)
  })
})
