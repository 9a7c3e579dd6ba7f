/**
 * The demo run end to end, quickly and deterministically: its timers are fake (the writer's files, the status line
 * and the table appear when the test moves the clock), Ctrl-C is its SIGINT listener called by the test, and the
 * dashboard's server is watched (and the port 4040 it asks for first is refused, as when another demo holds it).
 */
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { activityRows, writeActivityFiles } from '../../src/cli/activityData.js'
import { runDemo } from '../../src/cli/demo.js'
import { countsTable } from '../../src/cli/demoDisplay.js'
import { DEMO_QUERIES_TEXT } from '../../src/cli/demoQueries.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import type { CliIo } from '../../src/cli/io.js'
import { countActivity } from '../../src/cli/liveActivity.js'
import type { MonitoringOptions } from '../../src/monitor/server.js'
import { captureIo } from './support.js'

/** What the demo asked of the monitoring server, and how the fake answers: 4040 is taken unless `free4040`. */
const monitor = vi.hoisted(() => ({
  calls: [] as { port: number | undefined; warn: ((m: string) => void) | undefined }[],
  closed: 0,
  refuse: undefined as ((port: number | undefined) => Error | undefined) | undefined,
}))

vi.mock('../../src/monitor/server.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/monitor/server.js')>()
  return {
    ...real,
    serveMonitoring: async (session: Parameters<typeof real.serveMonitoring>[0], options: MonitoringOptions = {}) => {
      monitor.calls.push({ port: options.port, warn: options.warn })
      const refusal = monitor.refuse?.(options.port)
      if (refusal !== undefined) throw refusal
      // A free port whatever was asked: tests never hold a real 4040.
      const server = await real.serveMonitoring(session, { ...options, port: 0 })
      return {
        url: server.url,
        close: async () => {
          monitor.closed++
          await server.close()
        },
      }
    },
  }
})

const realOnce = process.once.bind(process)

const inUse = (port: number | undefined) => Object.assign(new Error(`listen EADDRINUSE: address already in use :::${port}`), { code: 'EADDRINUSE' })

let dir: string
let io: ReturnType<typeof captureIo> & { statuses: string[] }
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-demo-run-'))
  monitor.calls.length = 0
  monitor.closed = 0
  monitor.refuse = (port) => (port === 4040 ? inUse(port) : undefined)
  const captured = captureIo()
  const statuses: string[] = []
  io = { ...captured, statuses, status: (line: string) => void statuses.push(line) }
})
afterEach(async () => {
  vi.restoreAllMocks()
  vi.useRealTimers()
  await rm(dir, { recursive: true, force: true })
})

/**
 * Runs the demo with fake intervals; once it waits for its duration (its SIGINT listener in place), `whileRunning`
 * gets the listener (Ctrl-C) and may move the clock.
 */
async function demo(argv: string[], whileRunning: (interrupt: () => void) => void, out: CliIo = io): Promise<void> {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
  vi.spyOn(process, 'once').mockImplementation(((event: string, listener: () => void) => {
    realOnce(event, listener)
    if (event === 'SIGINT') whileRunning(listener)
    return process
  }) as typeof process.once)
  await runDemo(argv, out)
}

/** The activity counts the demo must show for `files` files of `perFile` rows written from file `first`, seed 42 + first. */
function expectedCounts(first: number, files: number, perFile: number) {
  const byActivity = new Map<string, number>()
  for (let f = first; f < first + files; f++) {
    for (const r of activityRows(f, perFile, 42 + first)) byActivity.set(r.gt, (byActivity.get(r.gt) ?? 0) + 1)
  }
  return byActivity
}

describe('structured-rx demo, run', () => {
  it('writes data for --duration, shows status and table, checks the counts and says how to resume', async () => {
    const root = join(dir, 'demo')
    await demo(['--duration', '0.05', '--rate', '20', '--dir', root], () => {
      // 5 seconds of the clock: 10 files of 10 rows, a status line a second, the table once.
      vi.advanceTimersByTime(5000)
    })
    const out = io.stdout()
    const data = join(root, 'activity-data')
    const counts = expectedCounts(0, 10, 10)
    expect(await countActivity(data)).toEqual({ rows: 100, byActivity: counts })
    expect(io.stderr()).toBe('')
    expect(out.startsWith(
      'structured-rx demo: activity data arriving live, two streaming queries with checkpoints\n\n' +
        `directory   ${root}\n` +
        `data        ${data}: 20 rows/s for 0.05 s\n\n${DEMO_QUERIES_TEXT}\n` +
        `Starting fresh: no checkpoint in ${join(root, 'checkpoints')} yet.\n` +
        'dashboard   http://127.0.0.1:',
    )).toBe(true)
    expect(out).toMatch(/^dashboard {3}(http:\/\/127\.0\.0\.1:\d+\/) \(Prometheus metrics: \1metrics\)\n\n/m)
    expect(monitor.calls.map((c) => c.port)).toEqual([4040, 0])
    monitor.calls[0]!.warn!('a warning')
    monitor.calls[1]!.warn!('another')
    expect(io.stderr()).toBe('a warning\nanother\n')
    expect(monitor.closed).toBe(1)

    // The status line every second (the fifth just before the table), cleared before the table and at the end.
    expect(io.statuses).toHaveLength(7)
    for (const line of io.statuses.slice(0, 5)) {
      expect(line).toMatch(/^\[\ds\] 0 rows written \| activity_counts (waiting for its first batch|batch \d+: .*) \| user_windows (waiting for its first batch|batch \d+: .*)$/)
    }
    expect(io.statuses.slice(5)).toEqual(['', ''])
    expect(out).toContain('\n\nactivity_counts:\n+')

    const want = [...counts].filter(([gt]) => gt !== 'null').map(([key, count]) => ({ key, count }))
    expect(out).toContain(`\nactivity_counts, final:\n${countsTable(want)}`)
    expect(out).toMatch(
      new RegExp(`\\nuser_windows: (\\d+) closed windows written to ${join(root, 'output', 'user_windows')} \\(each user and window once\\)\\n`),
    )
    expect(out).toContain(`\ncounts match the data: 100 rows in 10 files, ${counts.get('null') ?? 0} with gt 'null' filtered out\n`)
    const report = await inspectCheckpoint(join(root, 'checkpoints', 'activity_counts'))
    const last = report.batches.lastCommitted
    expect(out.endsWith(
      `\nstopped after batch ${last} of activity_counts. Run the same command again to resume; ` +
        `look inside: structured-rx inspect ${join(root, 'checkpoints', 'activity_counts')}\n`,
    )).toBe(true)
    expect(out).not.toContain('Ctrl-C')

    // A second run on the same directory resumes the same queries, numbering its files after the first run's;
    // Ctrl-C ends it before its duration (15 s by default, at 2000 rows/s) and skips the check.
    const again = captureIo()
    await demo(['--dir', root, '--port', '0'], (interrupt) => {
      vi.advanceTimersByTime(1000)
      interrupt()
    }, again)
    const out2 = again.stdout()
    expect(out2).toContain(`data        ${data}: 2000 rows/s for 15 s\n`)
    expect(out2).toContain(
      `Resuming from the checkpoints: activity_counts committed batches up to ${last}; ` +
        '10 data files are already there and are not read again.\n',
    )
    expect(out2).toContain(`activity_counts query id ${report.id} (the same as before), new runId `)
    expect(out2).toContain('\nCtrl-C: stopping the queries after their running batch…\n')
    expect(out2).not.toContain('counts match the data')
    expect(out2).not.toContain('\nactivity_counts:\n')
    expect(monitor.calls.map((c) => c.port)).toEqual([4040, 0, 0])
    expect(process.listenerCount('SIGINT')).toBe(0)
    const files = (await readdir(data)).sort()
    expect(files).toHaveLength(12)
    expect(files.slice(10)).toEqual(['part-00010.json', 'part-00011.json'])
    const all = expectedCounts(0, 10, 10)
    for (const [gt, n] of expectedCounts(10, 2, 1000)) all.set(gt, (all.get(gt) ?? 0) + n)
    expect(await countActivity(data)).toEqual({ rows: 2100, byActivity: all })
  })

  it('works in a temporary directory it removes, unless --dir is given', async () => {
    const saved = process.env.TMPDIR
    process.env.TMPDIR = dir
    const setTimer = vi.spyOn(globalThis, 'setTimeout')
    const clearTimer = vi.spyOn(globalThis, 'clearTimeout')
    try {
      await demo(['--port', '0', '--duration', '1 minute'], (interrupt) => interrupt())
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
    const out = io.stdout()
    expect(out).toMatch(
      new RegExp(`^directory {3}${dir}/srx-demo-\\w+ \\(temporary, removed at the end; pass --dir D to keep it and resume\\)\\n`, 'm'),
    )
    expect(out).toContain(': 2000 rows/s for 60 s\n')
    expect(out).toContain('\nuser_windows: 0 closed windows written to ')
    expect(out).not.toContain('the latest of them')
    expect(out).toMatch(/\nstopped after batch none of activity_counts\.\n$/)
    expect(await readdir(dir)).toEqual([])
    // Ctrl-C clears the timer of the duration too, so that the process can end at once.
    const minute = setTimer.mock.calls.findIndex(([, ms]) => ms === 60_000)
    expect(minute).toBeGreaterThanOrEqual(0)
    expect(clearTimer).toHaveBeenCalledWith(setTimer.mock.results[minute]!.value)
  })

  it('accepts a directory a demo wrote, hidden files included, and takes a bare number of seconds', async () => {
    await mkdir(join(dir, 'activity-data'))
    await mkdir(join(dir, 'output'))
    await writeFile(join(dir, '.DS_Store'), '')
    await demo(['--dir', dir, '--duration', '2.5', '--port', '0', '--rate', '1'], (interrupt) => interrupt())
    expect(io.stdout()).toContain(`data        ${join(dir, 'activity-data')}: 1 rows/s for 2.5 s\n`)
    expect((await readdir(dir)).sort()).toEqual(['.DS_Store', 'activity-data', 'checkpoints', 'output'])
  })

  it('shows the latest closed windows, and fails with the error of a query that fails', async () => {
    const data = join(dir, 'activity-data')
    await mkdir(data)
    // Three files of the 2015 data set's times: the live file stamped now closes all their windows.
    await writeActivityFiles(data, 0, [50, 50, 50], 7)
    const old = new Set<string>()
    for (let f = 0; f < 3; f++) for (const r of activityRows(f, 50, 7)) old.add(`${r.User}@${Math.floor(r.Arrival_Time / 10_000) * 10_000}`)
    await demo(['--dir', dir, '--duration', '0.05', '--port', '0', '--rate', '20'], () => vi.advanceTimersByTime(500))
    const out = io.stdout()
    const closed = Number(/\nuser_windows: (\d+) closed windows written to /.exec(out)?.[1])
    expect(closed).toBeGreaterThanOrEqual(old.size)
    expect(out).toContain(' (each user and window once)\nthe latest of them:\n+')
    expect(out).toContain('\ncounts match the data: 160 rows in 4 files, ')

    expect(vi.getTimerCount()).toBe(0)

    // Without its checkpoint the window query starts over as a new query, which the window sink refuses (its batch
    // ids would collide): the demo fails with that error, after stopping the other query and closing the dashboard.
    await rm(join(dir, 'checkpoints', 'user_windows'), { recursive: true })
    const again = captureIo()
    await expect(demo(['--dir', dir, '--duration', '0.05', '--port', '0'], () => {}, again)).rejects.toMatchObject({
      code: 'SRX_INVALID_QUERY',
      message: expect.stringContaining(`jsonFilesSink(${join(dir, 'output', 'user_windows')}) holds the output of query `),
    })
    expect(monitor.closed).toBe(2)
    // No interval left: the writer, the status line and both queries' checkpoint locks are stopped.
    expect(vi.getTimerCount()).toBe(0)
  })

  it('fails with the error of a write of the data', async () => {
    const data = join(dir, 'activity-data')
    const error = await demo(['--dir', dir, '--duration', '0.05', '--port', '65535'], () => {
      rmSync(data, { recursive: true })
      vi.advanceTimersByTime(500)
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'ENOENT', path: expect.stringContaining(join(data, '.part-00000.json.tmp')) })
    // --port 65535 is a port (the fake server serves on a free one).
    expect(monitor.calls.map((c) => c.port)).toEqual([65535])
    expect(monitor.closed).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('fails with the error of a query that fails while it runs, stopping everything', async () => {
    const data = join(dir, 'activity-data')
    await mkdir(data)
    await writeFile(join(data, 'part-00000.json'), '{"gt":"walk"}\n')
    const error = await demo(['--dir', dir, '--duration', '0.05', '--port', '0'], () => {}).then(
      () => undefined,
      (e: unknown) => e,
    )
    // Both queries fail on the file; whichever processAllAvailable() rejects first is reported.
    expect((error as Error).message).toMatch(
      /^query '(activity_counts|user_windows)' \[id = .*\] failed in batch 0 at FileStreamSource\[.*\]: bad record in .*part-00000\.json at line 1 \(\.Arrival_Time\)/,
    )
    expect(io.stdout()).not.toContain('activity_counts, final:')
    expect(monitor.closed).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('uses the --port it is given and fails when it is taken, stopping the writer', async () => {
    const error = await demo(['--dir', dir, '--port', '4040'], () => {}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'EADDRINUSE' })
    expect(monitor.calls.map((c) => c.port)).toEqual([4040])
    // The writer's timer is gone (no other interval runs), so no file is ever written.
    expect(vi.getTimerCount()).toBe(0)
    expect(await readdir(join(dir, 'activity-data'))).toEqual([])
  })

  it('falls back to a free port only when 4040 is in use', async () => {
    monitor.refuse = (port) => (port === 4040 ? Object.assign(new Error('listen EACCES'), { code: 'EACCES' }) : undefined)
    await expect(demo(['--dir', dir], () => {})).rejects.toMatchObject({ code: 'EACCES' })
    expect(monitor.calls.map((c) => c.port)).toEqual([4040])
  })

  it('closes the dashboard and stops the writer when a query cannot start', async () => {
    await mkdir(join(dir, 'checkpoints'))
    await writeFile(join(dir, 'checkpoints', 'activity_counts'), 'not a checkpoint')
    await expect(demo(['--dir', dir, '--port', '0'], () => {})).rejects.toThrow()
    expect(monitor.closed).toBe(1)
    // The writer's timer is gone (no other interval runs), so no file is ever written.
    expect(vi.getTimerCount()).toBe(0)
    expect(await readdir(join(dir, 'activity-data'))).toEqual([])
  })
})
