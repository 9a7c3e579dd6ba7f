/** The demo's pieces, each on its own and quickly: its data, its live writer, its queries and its arguments. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ACTIVITIES, Activity, activityFileName, activityRows, prng, writeActivityFiles } from '../../src/cli/activityData.js'
import { DEMO_USAGE, runDemo } from '../../src/cli/demo.js'
import { QUERY_NAMES, startDemoQueries, type CountRow } from '../../src/cli/demoQueries.js'
import { UsageError } from '../../src/cli/io.js'
import { activityFilesIn, countActivity, writeActivityLive } from '../../src/cli/liveActivity.js'
import { createSession } from '../../src/index.js'
import { readJsonFilesSink } from '../../src/sinks/jsonFilesSink.js'
import { captureIo } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-demo-parts-'))
})
afterEach(async () => {
  vi.useRealTimers()
  await rm(dir, { recursive: true, force: true })
})

/** 2015-02-23T10:18:55.090Z, where the generated data starts by default. */
const FIRST_ARRIVAL_MS = 1_424_686_735_090

describe('the activity data generator', () => {
  it('prng is mulberry32: the same seed gives the same numbers, each in [0, 1)', () => {
    const next = prng(42)
    expect([next(), next(), next()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099])
    const zero = prng(0)
    expect([zero(), zero()]).toEqual([0.26642920868471265, 0.0003297457005828619])
    // The seed is taken as an unsigned 32-bit integer.
    expect(prng(2 ** 32 + 42)()).toBe(0.6011037519201636)
    const many = prng(7)
    const xs = Array.from({ length: 10_000 }, () => many())
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(Math.min(...xs)).toBeLessThan(0.001)
    expect(Math.max(...xs)).toBeGreaterThan(0.999)
  })

  it('generates the same rows for the same file, seed and times, as the data set shapes them', () => {
    expect(activityRows(3, 2, 42)).toEqual([
      {
        Arrival_Time: 1424686915092,
        Creation_Time: 1424686914893000000,
        Device: 'samsungold_2',
        Index: 0,
        Model: 'samsungold',
        User: 'g',
        gt: 'stand',
        x: -0.892574,
        y: 0.567501,
        z: 0.337108,
      },
      {
        Arrival_Time: 1424686915099,
        Creation_Time: 1424686913568000000,
        Device: 's3mini_2',
        Index: 1,
        Model: 's3mini',
        User: 'h',
        gt: 'bike',
        x: -0.063662,
        y: 0.674684,
        z: 0.116813,
      },
    ])
    expect(activityRows(0, 1, 7, 1000, 10)).toEqual([
      { Arrival_Time: 1009, Creation_Time: -970000000, Device: 's3mini_2', Index: 0, Model: 's3mini', User: 'a', gt: 'walk', x: -0.751886, y: 0.255486, z: 0.360743 },
    ])
    expect(activityRows(3, 50, 42)).toEqual(activityRows(3, 50, 42))
    expect(activityRows(3, 50, 42).slice(0, 2)).toEqual(activityRows(3, 2, 42))
    expect(activityRows(4, 50, 42)).not.toEqual(activityRows(3, 50, 42))
    expect(activityRows(3, 50, 43)).not.toEqual(activityRows(3, 50, 42))
    expect(activityRows(3, 0, 42)).toEqual([])
  })

  it('spaces arrivals evenly from the first arrival, a minute per file by default, with device clocks behind', () => {
    for (const [fileIndex, first, spacing] of [
      [0, FIRST_ARRIVAL_MS, 5],
      [7, FIRST_ARRIVAL_MS + 7 * 60_000, 5],
      [2, 1_000_000, 40],
    ] as const) {
      const rows = fileIndex === 2 ? activityRows(fileIndex, 300, 42, first, spacing) : activityRows(fileIndex, 300, 42)
      expect(rows).toHaveLength(300)
      rows.forEach((row, index) => {
        expect(Activity.is(row)).toBe(true)
        expect(row.Index).toBe(index)
        expect(Number.isInteger(row.Arrival_Time)).toBe(true)
        expect(row.Arrival_Time).toBeGreaterThanOrEqual(first + index * spacing)
        expect(row.Arrival_Time).toBeLessThan(first + (index + 1) * spacing)
        expect(Number.isInteger(row.Creation_Time)).toBe(true)
        const behindMs = Math.round(row.Arrival_Time - row.Creation_Time / 1_000_000)
        expect(behindMs).toBeGreaterThanOrEqual(1)
        expect(behindMs).toBeLessThanOrEqual(2000)
        expect(row.Device).toMatch(new RegExp(`^${row.Model}_[12]$`))
        for (const v of [row.x, row.y, row.z]) {
          expect(Math.abs(v)).toBeLessThanOrEqual(1)
          expect(Math.round(v * 1_000_000)).toBeCloseTo(v * 1_000_000, 6)
        }
      })
    }
  })

  it('draws every label, user, model and device from the whole of their ranges', () => {
    const rows = activityRows(0, 5000, 42)
    const counts = (f: (r: Activity) => string) => {
      const m = new Map<string, number>()
      for (const r of rows) m.set(f(r), (m.get(f(r)) ?? 0) + 1)
      return m
    }
    expect([...counts((r) => r.gt).keys()].sort()).toEqual([...ACTIVITIES].sort())
    expect([...counts((r) => r.User).keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'])
    expect([...counts((r) => r.Model).keys()].sort()).toEqual(['nexus4', 's3', 's3mini', 'samsungold'])
    expect(counts((r) => r.Device).size).toBe(8)
    // Roughly uniform: each of the 7 labels near 5000 / 7.
    for (const n of counts((r) => r.gt).values()) expect(Math.abs(n - 5000 / 7)).toBeLessThan(150)
    const xs = rows.map((r) => r.x)
    expect(Math.min(...xs)).toBeLessThan(-0.99)
    expect(Math.max(...xs)).toBeGreaterThan(0.99)
    const behind = rows.map((r) => Math.round(r.Arrival_Time - r.Creation_Time / 1_000_000))
    expect(Math.max(...behind)).toBeGreaterThan(1900)
    expect(Math.min(...behind)).toBeLessThan(100)
    const offsets = rows.map((r, i) => r.Arrival_Time - FIRST_ARRIVAL_MS - i * 5)
    expect(new Set(offsets)).toEqual(new Set([0, 1, 2, 3, 4]))
  })

  it('names files so that they sort in the order written', () => {
    expect(activityFileName(0)).toBe('part-00000.json')
    expect(activityFileName(7)).toBe('part-00007.json')
    expect(activityFileName(12345)).toBe('part-12345.json')
    expect(activityFileName(123456)).toBe('part-123456.json')
  })

  it('writeActivityFiles writes each file as JSON lines and counts its rows per activity', async () => {
    const counts = await writeActivityFiles(dir, 3, [4, 0, 2], 42)
    expect((await readdir(dir)).sort()).toEqual(['part-00003.json', 'part-00004.json', 'part-00005.json'])
    expect(await readFile(join(dir, 'part-00003.json'), 'utf8')).toBe(activityRows(3, 4, 42).map((r) => JSON.stringify(r)).join('\n') + '\n')
    expect(await readFile(join(dir, 'part-00004.json'), 'utf8')).toBe('\n')
    expect(await readFile(join(dir, 'part-00005.json'), 'utf8')).toBe(activityRows(5, 2, 42).map((r) => JSON.stringify(r)).join('\n') + '\n')
    const want = new Map<string, number>()
    for (const r of [...activityRows(3, 4, 42), ...activityRows(5, 2, 42)]) want.set(r.gt, (want.get(r.gt) ?? 0) + 1)
    expect(counts).toEqual(want)
    expect(await countActivity(dir)).toEqual({ rows: 6, byActivity: want })
  })

  it('writeActivityFiles reports a write that fails', async () => {
    await expect(writeActivityFiles(join(dir, 'missing'), 0, [1], 42)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('the activity files of a directory', () => {
  it('activityFilesIn counts the part files and numbers the next one after the highest', async () => {
    expect(await activityFilesIn(dir)).toEqual({ files: 0, nextFile: 0 })
    await writeFile(join(dir, 'part-00002.json'), '')
    await writeFile(join(dir, 'part-00010.json'), '')
    await writeFile(join(dir, '.part-00011.json.tmp'), '')
    await writeFile(join(dir, 'part-00012.json.bak'), '')
    await writeFile(join(dir, 'xpart-00013.json'), '')
    await writeFile(join(dir, 'part-.json'), '')
    await writeFile(join(dir, 'notes.txt'), '')
    expect(await activityFilesIn(dir)).toEqual({ files: 2, nextFile: 11 })
    await expect(activityFilesIn(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('countActivity counts the rows of each activity in the part files only, skipping blank lines', async () => {
    expect(await countActivity(dir)).toEqual({ rows: 0, byActivity: new Map() })
    await writeFile(join(dir, 'part-00000.json'), '{"gt":"sit"}\n\n{"gt":"walk"}\n{"gt":"sit"}\n')
    await writeFile(join(dir, 'part-00001.json'), '{"gt":"null"}')
    await writeFile(join(dir, '.part-00002.json.tmp'), '{"gt":"bike"}\n')
    await writeFile(join(dir, 'part-00003.json.old'), '{"gt":"bike"}\n')
    await writeFile(join(dir, 'apart-00004.json'), '{"gt":"bike"}\n')
    expect(await countActivity(dir)).toEqual({
      rows: 4,
      byActivity: new Map([
        ['sit', 2],
        ['walk', 1],
        ['null', 1],
      ]),
    })
    await writeFile(join(dir, 'part-00005.json'), 'not json\n')
    await expect(countActivity(dir)).rejects.toThrow(SyntaxError)
  })
})

describe('the live activity writer', () => {
  it('writes the next file every everyMs, rows stamped from the current time, until stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: 1_000_000 })
    await writeFile(join(dir, 'part-00004.json'), 'old\n')
    const errors: unknown[] = []
    const writer = writeActivityLive(dir, { rowsPerSecond: 30, everyMs: 200, firstFile: 5, seed: 9, onError: (e) => errors.push(e) })
    expect(writer.written()).toEqual({ files: 0, rows: 0 })
    vi.advanceTimersByTime(199)
    await writer.stop()
    expect(await readdir(dir)).toEqual(['part-00004.json'])

    const live = writeActivityLive(dir, { rowsPerSecond: 30, everyMs: 200, firstFile: 5, seed: 9, onError: (e) => errors.push(e) })
    vi.advanceTimersByTime(600)
    await live.stop()
    // 30 rows/s in files every 200 ms: 6 rows a file, 200 / 6 ms apart, from 200 ms before the time of the write
    // (here, the writes run once the clock has moved on by all three ticks).
    expect(live.written()).toEqual({ files: 3, rows: 18 })
    expect((await readdir(dir)).sort()).toEqual(['part-00004.json', 'part-00005.json', 'part-00006.json', 'part-00007.json'])
    for (const file of [5, 6, 7]) {
      const tick = 1_000_000 + 199 + 600
      expect(await readFile(join(dir, activityFileName(file)), 'utf8')).toBe(
        activityRows(file, 6, 9, tick - 200, 200 / 6).map((r) => JSON.stringify(r)).join('\n') + '\n',
      )
    }
    expect(await readFile(join(dir, 'part-00004.json'), 'utf8')).toBe('old\n')
    vi.advanceTimersByTime(1000)
    await live.stop()
    expect(live.written()).toEqual({ files: 3, rows: 18 })
    expect(await readdir(dir)).toHaveLength(4)
    expect(errors).toEqual([])
  })

  it('writes at least one row a file, 2000 rows/s in files every 500 ms by default', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: 5_000_000 })
    const slow = writeActivityLive(dir, { rowsPerSecond: 1, everyMs: 100, firstFile: 0, seed: 1, onError: () => {} })
    vi.advanceTimersByTime(100)
    await slow.stop()
    expect(slow.written()).toEqual({ files: 1, rows: 1 })
    expect(await readFile(join(dir, 'part-00000.json'), 'utf8')).toBe(JSON.stringify(activityRows(0, 1, 1, 5_000_000, 100)[0]) + '\n')

    const byDefault = writeActivityLive(dir, { rowsPerSecond: 2000, firstFile: 1, seed: 1, onError: () => {} })
    vi.advanceTimersByTime(499)
    expect(byDefault.written()).toEqual({ files: 0, rows: 0 })
    vi.advanceTimersByTime(1)
    await byDefault.stop()
    expect(byDefault.written()).toEqual({ files: 1, rows: 1000 })
    expect(await countActivity(dir)).toMatchObject({ rows: 1001 })
    expect((await readdir(dir)).sort()).toEqual(['part-00000.json', 'part-00001.json'])
  })

  it('reports a failed write to onError once and stops writing', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
    const errors: unknown[] = []
    const missing = join(dir, 'missing')
    const writer = writeActivityLive(missing, { rowsPerSecond: 10, everyMs: 100, firstFile: 0, seed: 1, onError: (e) => errors.push(e) })
    vi.advanceTimersByTime(100)
    await vi.waitUntil(() => errors.length > 0, { interval: 1 }).catch(() => undefined)
    // Later ticks, were the timer still running, would each fail once more (the directory appears too late).
    vi.advanceTimersByTime(1000)
    await writer.stop()
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'ENOENT' })
    expect(writer.written()).toEqual({ files: 0, rows: 0 })
  })
})

describe('the demo queries', () => {
  function paths() {
    return {
      data: join(dir, 'data'),
      countsCheckpoint: join(dir, 'checkpoints', QUERY_NAMES.counts),
      windowsCheckpoint: join(dir, 'checkpoints', QUERY_NAMES.windows),
      windowsOutput: join(dir, 'output', QUERY_NAMES.windows),
    }
  }

  it('count the activities but "null" and each user in closed 10-second windows, ten files a batch', async () => {
    expect(QUERY_NAMES).toEqual({ counts: 'activity_counts', windows: 'user_windows' })
    const p = paths()
    await mkdir(p.data)
    // Twelve files 3 seconds apart, 300 rows 10 ms apart in each (3 s), from 10:00:00.
    const start = Date.UTC(2026, 0, 1, 10, 0, 0)
    const rows = Array.from({ length: 12 }, (_, f) => activityRows(f, 300, 42, start + f * 3000, 10))
    for (const [f, file] of rows.entries()) {
      await writeFile(join(p.data, activityFileName(f)), file.map((r) => JSON.stringify(r)).join('\n') + '\n')
    }
    const session = createSession({ shufflePartitions: 3 })
    const { counts, windows } = await startDemoQueries(session, p)
    try {
      expect([counts.name, windows.name]).toEqual(['activity_counts', 'user_windows'])
      await counts.processAllAvailable()
      await windows.processAllAvailable()
      expect(counts.recentProgress.map((b) => b.numInputRows).filter((n) => n > 0)).toEqual([3000, 600])
      const all = rows.flat()
      const want = new Map<string, number>()
      for (const r of all) if (r.gt !== 'null') want.set(r.gt, (want.get(r.gt) ?? 0) + 1)
      const table = session.table<CountRow>(QUERY_NAMES.counts)
      expect(new Map(table.map((r) => [r.key, r.count]))).toEqual(want)
      expect(table).toHaveLength(6)
    } finally {
      await Promise.all([counts.stop(), windows.stop()])
    }
    const closed = await readJsonFilesSink<{ key: string; window: { start: number; end: number }; count: number }>(p.windowsOutput)
    // Append mode: only windows that the watermark (the latest arrival less 2 seconds) has passed, each once.
    const watermark = Math.max(...rows.flat().map((r) => r.Arrival_Time)) - 2000
    const wantWindows = new Map<string, number>()
    for (const r of rows.flat()) {
      const s = Math.floor(r.Arrival_Time / 10_000) * 10_000
      if (s + 10_000 <= watermark) wantWindows.set(`${r.User}@${s}`, (wantWindows.get(`${r.User}@${s}`) ?? 0) + 1)
    }
    expect(wantWindows.size).toBeGreaterThan(9)
    expect(new Map(closed.map((w) => [`${w.key}@${w.window.start}`, w.count]))).toEqual(wantWindows)
    expect(closed).toHaveLength(wantWindows.size)
    for (const w of closed) expect(w.window.end - w.window.start).toBe(10_000)
    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual(['activity_counts', 'user_windows'])
  })

  it('stop the count query when the window query cannot start', async () => {
    const p = paths()
    await mkdir(p.data)
    await mkdir(join(dir, 'checkpoints'))
    await writeFile(p.windowsCheckpoint, 'not a directory')
    const session = createSession()
    await expect(startDemoQueries(session, p)).rejects.toThrow()
    expect(session.streams.active).toEqual([])
  })
})

describe('structured-rx demo arguments', () => {
  async function refused(...argv: string[]): Promise<string> {
    const io = captureIo()
    const error = await runDemo(argv, io).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(UsageError)
    expect(io.stdout()).toBe('')
    return (error as Error).message
  }

  it('prints its usage on --help', async () => {
    const io = captureIo()
    await runDemo(['--help', '--rate', '0'], io)
    expect(io.stdout()).toBe(DEMO_USAGE)
    expect(DEMO_USAGE).toMatch(/^Usage: structured-rx demo \[--dir D\] \[--duration T\] \[--rate N\] \[--port P\]\n/)
  })

  it('names what is wrong with the command line', async () => {
    expect(await refused('extra')).toBe("demo: unexpected argument 'extra'")
    expect(await refused('--duration', '1s', 'one', 'two')).toBe("demo: unexpected argument 'one'")
    expect(await refused('--rows', '5')).toMatch(/^Unknown option '--rows'/)
    expect(await refused('--rate', '0')).toBe("--rate must be an integer ≥ 1, got '0'")
    expect(await refused('--rate', 'fast')).toBe("--rate must be an integer ≥ 1, got 'fast'")
    expect(await refused('--port=-1')).toBe("--port must be an integer ≥ 0, got '-1'")
    expect(await refused('--port', '65536')).toBe('--port must be at most 65535, got 65536')
    expect(await refused('--port', '99999')).toBe('--port must be at most 65535, got 99999')
    for (const duration of ['soon', '0', '0s', '-5s', '0.0', '', '5 fortnights']) {
      expect(await refused(`--duration=${duration}`)).toBe(`--duration must be a positive duration such as 15s or '2 minutes', got '${duration}'`)
    }
    // The duration is checked before the rate, the rate before the port, the port before the directory.
    expect(await refused('--duration', 'x', '--rate', '0')).toMatch(/^--duration/)
    expect(await refused('--rate', '0', '--port', '99999')).toMatch(/^--rate/)
    await writeFile(join(dir, 'precious.txt'), 'keep me')
    expect(await refused('--port', '99999', '--dir', dir)).toMatch(/^--port/)
    expect(await readdir(dir)).toEqual(['precious.txt'])
  })

  it('refuses a --dir that holds files other than a demo\'s, naming the directory, and creates a missing one', async () => {
    await mkdir(join(dir, 'activity-data'))
    await mkdir(join(dir, 'checkpoints'))
    await writeFile(join(dir, '.hidden'), '')
    await writeFile(join(dir, 'output'), '')
    await writeFile(join(dir, 'precious.txt'), 'keep me')
    expect(await refused('--dir', dir, '--duration', '1')).toBe(
      `--dir ${dir} holds files that are not the demo's; give a new directory or one a demo wrote`,
    )
    const nested = join(dir, 'a', 'b')
    await writeFile(join(dir, 'a'), '')
    await expect(runDemo(['--dir', nested], captureIo())).rejects.toMatchObject({ code: 'ENOTDIR' })
  })

  // process.chdir() exists in the main thread and forked workers only, not in the worker threads mutation testing uses.
  it.skipIf(!isMainThread)('names the absolute directory when --dir is relative', async () => {
    await writeFile(join(dir, 'precious.txt'), 'keep me')
    const cwd = process.cwd()
    process.chdir(dir)
    try {
      expect(await refused('--dir', '.')).toBe(`--dir ${dir} holds files that are not the demo's; give a new directory or one a demo wrote`)
    } finally {
      process.chdir(cwd)
    }
  })
})
