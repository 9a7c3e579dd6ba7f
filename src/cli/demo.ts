/**
 * `structured-rx demo`: activity data arriving live as JSON-lines files, two queries over it with checkpoints —
 * the README's activity count (filter, groupBy `gt`, count, complete mode) and per-user counts in 10-second event-time
 * windows (watermark, append mode, a `jsonFilesSink`) — a live status line, the result table every few seconds and
 * the monitoring dashboard. It stops after `--duration` or on Ctrl-C, checks the counts against the files, and a
 * second run on the same `--dir` resumes from the checkpoints.
 */
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createSession, type Session } from '../session.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import { type MonitoringServer, serveMonitoring } from '../monitor/server.js'
import { readJsonFilesSink } from '../sinks/jsonFilesSink.js'
import { parseDuration } from '../util/duration.js'
import { inspectCheckpoint } from './inspect.js'
import { countsTable, statusLine, windowsTable } from './demoDisplay.js'
import { startDemoQueries, type CountRow, DEMO_QUERIES_TEXT, QUERY_NAMES } from './demoQueries.js'
import { activityFilesIn, countActivity, writeActivityLive } from './liveActivity.js'
import { CliError, type CliIo, integerOption, parseCommandArgs, UsageError } from './io.js'

/** The help text of `structured-rx demo`. */
export const DEMO_USAGE = `Usage: structured-rx demo [--dir D] [--duration T] [--rate N] [--port P]

Writes activity data as JSON-lines files at a steady rate and runs two queries over it with checkpoints: the
activity count (filter → groupBy(gt) → count, complete mode) and per-user counts in 10-second event-time windows
(watermark, append mode, written with jsonFilesSink). Shows a live status line, the table every few seconds and the
monitoring dashboard. Stops after --duration or on Ctrl-C; run it again on the same --dir to resume.
  --dir D        data, checkpoints and output, kept; a second run on D resumes from its checkpoints
                 (default: a temporary directory, removed at the end)
  --duration T   how long to write data, e.g. 15s, '2 minutes' (default 15s)
  --rate N       activity rows written per second (default 2000)
  --port P       port of the monitoring dashboard (default 4040, or a free port if it is taken; 0: a free port)
`

const SEED = 42
const STATUS_EVERY_MS = 1000
const TABLE_EVERY_MS = 5000

/** The demo's directory layout under its root. */
function layout(root: string) {
  return {
    data: join(root, 'activity-data'),
    countsCheckpoint: join(root, 'checkpoints', QUERY_NAMES.counts),
    windowsCheckpoint: join(root, 'checkpoints', QUERY_NAMES.windows),
    windowsOutput: join(root, 'output', QUERY_NAMES.windows),
  }
}

/**
 * The `demo` command.
 * @example await runDemo(['--duration', '5s', '--dir', '/tmp/demo'], processIo)
 * @throws UsageError for bad arguments or a `--dir` that holds something else; CliError if the counts ever differ
 * from the data.
 */
export async function runDemo(argv: readonly string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, {
    dir: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    port: { type: 'string' },
  })
  if (values.help) return io.out(DEMO_USAGE)
  if (positionals.length > 0) throw new UsageError(`demo: unexpected argument '${positionals[0]}'`)
  const durationMs = durationOption(values.duration)
  const rate = integerOption(values.rate, '--rate', 1) ?? 2000
  const port = integerOption(values.port, '--port', 0)
  if (port !== undefined && port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`)

  const root = values.dir === undefined ? await mkdtemp(join(tmpdir(), 'srx-demo-')) : await demoDir(values.dir)
  try {
    await demo({ root, keep: values.dir !== undefined, durationMs, rate, port }, io)
  } finally {
    if (values.dir === undefined) await rm(root, { recursive: true, force: true })
  }
}

function durationOption(text: string | undefined): number {
  if (text === undefined) return 15_000
  try {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? `${text} s` : text, '--duration')
    if (ms > 0) return ms
  } catch {
    // Reported below, in the command line's words.
  }
  throw new UsageError(`--duration must be a positive duration such as 15s or '2 minutes', got '${text}'`)
}

/** A new or empty directory, or one a previous demo left (which the demo resumes); anything else is refused. */
async function demoDir(dir: string): Promise<string> {
  const path = resolve(dir)
  await mkdir(path, { recursive: true })
  const entries = (await readdir(path)).filter((e) => !e.startsWith('.'))
  const ours = new Set(['activity-data', 'checkpoints', 'output'])
  if (entries.some((e) => !ours.has(e))) {
    throw new UsageError(`--dir ${path} holds files that are not the demo's; give a new directory or one a demo wrote`)
  }
  return path
}

interface DemoOptions {
  readonly root: string
  readonly keep: boolean
  readonly durationMs: number
  readonly rate: number
  readonly port: number | undefined
}

async function demo(options: DemoOptions, io: CliIo): Promise<void> {
  const paths = layout(options.root)
  await mkdir(paths.data, { recursive: true })
  const previous = await checkpointed(paths.countsCheckpoint)
  const resumedFrom = previous?.lastCommitted
  const existing = await activityFilesIn(paths.data)

  io.out(
    `structured-rx demo: activity data arriving live, two streaming queries with checkpoints\n\n` +
      `directory   ${options.root}${options.keep ? '' : ' (temporary, removed at the end; pass --dir D to keep it and resume)'}\n` +
      `data        ${paths.data}: ${options.rate} rows/s for ${options.durationMs / 1000} s\n\n${DEMO_QUERIES_TEXT}\n`,
  )
  io.out(
    previous === undefined
      ? `Starting fresh: no checkpoint in ${join(options.root, 'checkpoints')} yet.\n`
      : `Resuming from the checkpoints: ${QUERY_NAMES.counts} committed batches up to ${resumedFrom ?? 'none'}; ` +
          `${existing.files} data files are already there and are not read again.\n`,
  )

  const session = createSession({ shufflePartitions: 8, warn: (m) => io.err(`${m}\n`) })
  let writerError: unknown
  const writer = writeActivityLive(paths.data, {
    rowsPerSecond: options.rate,
    firstFile: existing.nextFile,
    seed: SEED + existing.nextFile,
    onError: (e) => (writerError = e),
  })
  const started = performance.now()
  const dashboard = await serveDashboard(session, options.port, io).catch(async (e: unknown) => {
    await writer.stop()
    throw e
  })
  const queries = await startDemoQueries(session, paths).catch(async (e: unknown) => {
    await Promise.all([writer.stop(), dashboard.close()])
    throw e
  })
  if (previous !== undefined) {
    const same = previous.id === queries.counts.id ? 'the same as before' : `NOT the checkpoint's ${previous.id}`
    io.out(`${QUERY_NAMES.counts} query id ${queries.counts.id} (${same}), new runId ${queries.counts.runId}\n`)
  }

  const interrupted = await runFor(options.durationMs, io, () => {
    io.status?.(statusLine((performance.now() - started) / 1000, writer.written().rows, [queries.counts, queries.windows]))
  }, () => {
    io.status?.('')
    io.out(`\n${QUERY_NAMES.counts}:\n${countsTable(session.table<CountRow>(QUERY_NAMES.counts))}`)
  })
  await writer.stop()
  try {
    if (writerError !== undefined) throw writerError
    if (!interrupted) {
      // Bounded run: let both queries read everything written, so the table can be checked against the files.
      await Promise.all([queries.counts.processAllAvailable(), queries.windows.processAllAvailable()])
    }
  } finally {
    // Also on failure: running queries and a listening dashboard would keep the process from ever exiting.
    await Promise.all([queries.counts.stop(), queries.windows.stop()])
    await dashboard.close()
  }
  io.status?.('')
  await report(session, queries, paths, interrupted, options, io)
}

/**
 * Waits `durationMs` or until Ctrl-C (SIGINT), calling `status` every second and `table` every five seconds.
 * Resolves to true when interrupted.
 */
async function runFor(durationMs: number, io: CliIo, status: () => void, table: () => void): Promise<boolean> {
  return new Promise((resolveRun) => {
    const statusTimer = setInterval(status, STATUS_EVERY_MS)
    const tableTimer = setInterval(table, TABLE_EVERY_MS)
    const finish = (interrupted: boolean) => {
      clearInterval(statusTimer)
      clearInterval(tableTimer)
      clearTimeout(end)
      process.off('SIGINT', onInterrupt)
      resolveRun(interrupted)
    }
    const onInterrupt = () => {
      io.status?.('')
      io.out('\nCtrl-C: stopping the queries after their running batch…\n')
      finish(true)
    }
    const end = setTimeout(() => finish(false), durationMs)
    process.once('SIGINT', onInterrupt)
  })
}

async function report(
  session: Session,
  queries: { counts: StreamingQuery; windows: StreamingQuery },
  paths: ReturnType<typeof layout>,
  interrupted: boolean,
  options: DemoOptions,
  io: CliIo,
): Promise<void> {
  const table = session.table<CountRow>(QUERY_NAMES.counts)
  io.out(`\n${QUERY_NAMES.counts}, final:\n${countsTable(table)}`)
  const windows = await readJsonFilesSink<{ key: string; window: { start: number; end: number }; count: number }>(paths.windowsOutput)
  const distinct = new Set(windows.map((w) => `${w.key}@${w.window.start}`)).size
  io.out(
    `${QUERY_NAMES.windows}: ${windows.length} closed windows written to ${paths.windowsOutput}` +
      ` (${distinct === windows.length ? 'each user and window once' : `${windows.length - distinct} DUPLICATES`})\n`,
  )
  if (distinct !== windows.length) throw new CliError(`demo: ${QUERY_NAMES.windows} wrote a user's window twice`)
  if (windows.length > 0) io.out(`the latest of them:\n${windowsTable(windows, 6)}`)
  if (!interrupted) {
    const data = await countActivity(paths.data)
    const want = [...data.byActivity].filter(([gt]) => gt !== 'null').sort(([a], [b]) => a.localeCompare(b))
    const got = [...table].sort((a, b) => a.key.localeCompare(b.key)).map((r) => [r.key, r.count])
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new CliError(`demo: the query's counts ${JSON.stringify(got)} differ from the data ${JSON.stringify(want)}`)
    }
    io.out(`counts match the data: ${data.rows} rows in ${(await activityFilesIn(paths.data)).files} files, ${data.byActivity.get('null') ?? 0} with gt 'null' filtered out\n`)
  }
  const last = queries.counts.lastProgress?.batchId
  io.out(
    `\nstopped after batch ${last ?? 'none'} of ${QUERY_NAMES.counts}.` +
      (options.keep ? ` Run the same command again to resume; look inside: structured-rx inspect ${paths.countsCheckpoint}\n` : '\n'),
  )
}

/** The query id and last committed batch of a checkpoint, or undefined when there is none yet. */
async function checkpointed(checkpoint: string): Promise<{ id: string; lastCommitted: number | undefined } | undefined> {
  const exists = await access(join(checkpoint, 'metadata')).then(
    () => true,
    () => false,
  )
  if (!exists) return undefined
  const report = await inspectCheckpoint(checkpoint)
  return { id: report.id, lastCommitted: report.batches.lastCommitted ?? undefined }
}

/**
 * The monitoring server and dashboard of the session: on `port`, or by default on 4040 and on a free port when 4040
 * is taken (another demo, a Spark UI).
 */
async function serveDashboard(session: Session, port: number | undefined, io: CliIo): Promise<MonitoringServer> {
  const warn = (m: string) => io.err(`${m}\n`)
  const server = await serveMonitoring(session, { port: port ?? 4040, warn }).catch((error: unknown) => {
    if (port !== undefined || (error as { code?: unknown }).code !== 'EADDRINUSE') throw error
    return serveMonitoring(session, { port: 0, warn })
  })
  io.out(`dashboard   ${server.url} (Prometheus metrics: ${server.url}metrics)\n\n`)
  return server
}
