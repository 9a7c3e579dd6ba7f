import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { activityRows } from '../../src/cli/activityData.js'
import { runCli } from '../../src/cli/cli.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { activityFilesIn, countActivity } from '../../src/cli/liveActivity.js'
import { captureIo } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-demo-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The rows of the final table the demo printed, as [activity, count]. */
function finalTable(out: string): [string, number][] {
  const table = out.slice(out.indexOf('activity_counts, final:'))
  return [...table.matchAll(/^\| *(\w+)\| *(\d+)\|$/gm)].filter((m) => m[1] !== 'key').map((m) => [m[1]!, Number(m[2])])
}

describe('structured-rx demo', () => {
  it('writes data for --duration, runs both queries, prints the table and checks it against the files', async () => {
    const io = captureIo()
    expect(await runCli(['demo', '--duration', '3s', '--rate', '400', '--port', '0', '--dir', dir], io)).toBe(0)
    const out = io.stdout()
    expect(io.stderr()).toBe('')
    expect(out).toContain('Starting fresh: no checkpoint')
    expect(out).toMatch(/^dashboard {3}http:\/\/127\.0\.0\.1:\d+\/ \(Prometheus metrics: http:\/\/127\.0\.0\.1:\d+\/metrics\)$/m)
    const data = await countActivity(join(dir, 'activity-data'))
    expect(data.rows).toBeGreaterThan(0)
    const want = [...data.byActivity].filter(([gt]) => gt !== 'null').sort(([a], [b]) => a.localeCompare(b))
    expect(finalTable(out)).toEqual(want)
    expect(out).toContain(`counts match the data: ${data.rows} rows`)
    expect(out).toMatch(/user_windows: \d+ closed windows written to .* \(each user and window once\)/)
    const report = await inspectCheckpoint(join(dir, 'checkpoints', 'activity_counts'))
    expect(report.batches.lastCommitted).toBeGreaterThanOrEqual(0)
  })

  it('removes its temporary directory unless --dir is given', async () => {
    const savedTmp = process.env.TMPDIR
    process.env.TMPDIR = dir
    try {
      const io = captureIo()
      expect(await runCli(['demo', '--duration', '1s', '--rate', '50', '--port', '0'], io)).toBe(0)
      expect(io.stdout()).toContain(`directory   ${dir}/srx-demo-`)
      expect(io.stdout()).toContain('(temporary, removed at the end; pass --dir D to keep it and resume)')
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = savedTmp
    }
    expect(await readdir(dir)).toEqual([])
  })

  it('refuses a --dir that holds other files, and bad options', async () => {
    await writeFile(join(dir, 'precious.txt'), 'keep me')
    const io = captureIo()
    expect(await runCli(['demo', '--dir', dir], io)).toBe(2)
    expect(io.stderr()).toContain(`structured-rx: --dir ${dir} holds files that are not the demo's`)
    const bad = captureIo()
    expect(await runCli(['demo', '--duration', 'soon'], bad)).toBe(2)
    expect(bad.stderr()).toContain("--duration must be a positive duration such as 15s or '2 minutes', got 'soon'")
  })

  it('live files get consecutive numbers after the ones already there, with rows stamped near now', async () => {
    await writeFile(join(dir, 'part-00004.json'), '')
    expect(await activityFilesIn(dir)).toEqual({ files: 1, nextFile: 5 })
    const now = Date.now()
    const rows = activityRows(5, 100, 42, now, 5)
    expect(rows[0]!.Arrival_Time).toBeGreaterThanOrEqual(now)
    expect(rows[99]!.Arrival_Time).toBeLessThan(now + 500)
  })
})
