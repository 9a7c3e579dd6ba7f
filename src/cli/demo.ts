/**
 * `structured-rx demo`: the activity query of the README (filter, group by kind, count) over generated data. It runs the query with a checkpoint
 * until the data is drained, shows each batch's progress, the result table and the plan, then writes more files
 * and restarts on the same checkpoint to show the counts continue exactly where they stopped.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import * as t from 'io-ts'
import type { StreamingQueryProgress } from '../exec/progress.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import { compilePlan } from '../plan/compile.js'
import { explainPlan } from '../plan/explain.js'
import { createSession } from '../session.js'
import { count } from '../operators/count.js'
import { filter } from '../operators/filter.js'
import { groupBy } from '../operators/groupBy.js'
import { formatTable } from '../sinks/consoleSink.js'
import { memorySink } from '../sinks/memorySink.js'
import { jsonFiles } from '../sources/jsonFiles.js'
import { trigger } from '../exec/trigger.js'
import { Activity, writeActivityFiles } from './activityData.js'
import { CliError, type CliIo, integerOption, parseCommandArgs, UsageError } from './io.js'

/** The help text of `structured-rx demo`. */
export const DEMO_USAGE = `Usage: structured-rx demo [--rows N] [--files F] [--dir D]

Runs the activity query (jsonFiles → filter(gt != 'null') → groupBy(gt) → count(), complete mode) over generated
data with a checkpoint, then adds files and restarts it on the same checkpoint.
  --rows N    activity rows in the first run (default 30000)
  --files F   files they are spread over; 10 are read per batch (default 30)
  --dir D     an empty or new directory for the data and the checkpoint, kept afterwards
              (default: a temporary directory, removed at the end)
`

const SEED = 42
const QUERY_NAME = 'test_stream'
const SHUFFLE_PARTITIONS = 8
const MAX_FILES_PER_TRIGGER = 10

type CountRow = { key: string; count: number }

/**
 * The `demo` command.
 * @example await runDemo(['--rows', '1000', '--files', '5'], processIo)
 * @throws UsageError for bad arguments or a non-empty `--dir`; CliError if the counts ever differ from the data.
 */
export async function runDemo(argv: readonly string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, {
    rows: { type: 'string' },
    files: { type: 'string' },
    dir: { type: 'string' },
  })
  if (values.help) return io.out(DEMO_USAGE)
  if (positionals.length > 0) throw new UsageError(`demo: unexpected argument '${positionals[0]}'`)
  const rows = integerOption(values.rows, '--rows', 1) ?? 30_000
  const files = integerOption(values.files, '--files', 1) ?? 30
  if (files > rows) throw new UsageError(`--files (${files}) cannot exceed --rows (${rows}): every file holds at least one row`)

  const root = values.dir === undefined ? await mkdtemp(join(tmpdir(), 'srx-demo-')) : await emptyDir(values.dir)
  try {
    await demo(root, rows, files, values.dir !== undefined, io)
  } finally {
    if (values.dir === undefined) await rm(root, { recursive: true, force: true })
  }
}

async function emptyDir(dir: string): Promise<string> {
  const path = resolve(dir)
  await mkdir(path, { recursive: true })
  if ((await readdir(path)).length > 0) throw new UsageError(`--dir ${path} is not empty; give an empty or new directory`)
  return path
}

async function demo(root: string, rows: number, files: number, keep: boolean, io: CliIo): Promise<void> {
  const started = performance.now()
  const dataDir = join(root, 'activity-data')
  const checkpoint = join(root, 'checkpoint')
  await mkdir(dataDir, { recursive: true })
  const perFile = Array.from({ length: files }, (_, i) => Math.floor(rows / files) + (i < rows % files ? 1 : 0))
  const expected = await writeActivityFiles(dataDir, 0, perFile, SEED)

  io.out(
    `structured-rx demo: the activity query over generated data\n\n` +
      `data        ${dataDir} (${rows} rows in ${files} files)\n` +
      `checkpoint  ${checkpoint}${keep ? '' : ' (temporary, removed at the end; pass --dir D to keep it)'}\n\n` +
      `  session.readStream(jsonFiles(data, { codec: Activity, maxFilesPerTrigger: ${MAX_FILES_PER_TRIGGER} }))\n` +
      `    .pipe(filter(r => r.gt !== 'null'), groupBy(r => r.gt, t.string), count())\n` +
      `    .writeStream({ outputMode: 'complete', checkpointLocation, queryName: '${QUERY_NAME}',\n` +
      `                   sink: memorySink(), trigger: trigger.availableNow() })\n\n`,
  )

  io.out(`== Run 1: drain the data (trigger availableNow) ==\n`)
  const first = await runActivityQuery(dataDir, checkpoint, io)
  io.out(`\n${QUERY_NAME}, sorted by key:\n${formatTable(first.rows)}\n${first.plan}\n`)
  checkCounts(first.rows, expected)

  const moreFiles = Math.max(1, Math.ceil(files / 3))
  const moreRows = Array.from({ length: moreFiles }, () => Math.max(1, Math.floor(rows / files)))
  const added = await writeActivityFiles(dataDir, files, moreRows, SEED)
  for (const [gt, n] of added) expected.set(gt, (expected.get(gt) ?? 0) + n)
  const total = rows + moreRows.reduce((a, b) => a + b, 0)

  io.out(`\n== Run 2: ${moreFiles} more files (${total - rows} rows), restart on the same checkpoint ==\n`)
  const second = await runActivityQuery(dataDir, checkpoint, io)
  const sameId = second.query.id === first.query.id ? 'same query id' : 'NEW query id'
  io.out(`query id ${second.query.id} (${sameId}), runId ${second.query.runId} (new run)\n`)
  io.out(`\n${QUERY_NAME}, sorted by key:\n${formatTable(second.rows)}`)
  checkCounts(second.rows, expected)
  const unlabelled = expected.get('null') ?? 0
  io.out(`counts match the generated data: ${total} rows, ${unlabelled} with gt 'null' filtered out\n`)

  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  io.out(`\ndone in ${seconds} s${keep ? `; look inside: structured-rx inspect ${checkpoint}` : ''}\n`)
}

/** One run of the activity query until the data is drained; progress lines are printed as batches commit. */
async function runActivityQuery(
  dataDir: string,
  checkpoint: string,
  io: CliIo,
): Promise<{ query: StreamingQuery; rows: CountRow[]; plan: string }> {
  const session = createSession({ shufflePartitions: SHUFFLE_PARTITIONS, warn: (m) => io.err(`${m}\n`) })
  const sink = memorySink<CountRow>()
  const stream = session
    .readStream(jsonFiles(dataDir, { codec: Activity, maxFilesPerTrigger: MAX_FILES_PER_TRIGGER }))
    .pipe(filter((r: Activity) => r.gt !== 'null'), groupBy((r: Activity) => r.gt, t.string), count())
  const subscription = session.streams.events$.subscribe((event) => {
    if (event.type === 'progress') io.out(`${progressLine(event.progress)}\n`)
  })
  try {
    const query = await stream
      .writeStream({
        outputMode: 'complete',
        checkpointLocation: checkpoint,
        queryName: QUERY_NAME,
        sink,
        trigger: trigger.availableNow(),
      })
      .start()
    await query.awaitTermination()
    const rows = session.table<CountRow>(QUERY_NAME).sort((a, b) => a.key.localeCompare(b.key))
    // The text query.explain() prints, without printing it: the CLI writes through `io`.
    const compiled = compilePlan(stream.planNodes, 'complete')
    const plan = explainPlan(compiled, stream.sourceOf.description, sink.description, SHUFFLE_PARTITIONS)
    return { query, rows, plan }
  } finally {
    subscription.unsubscribe()
  }
}

/**
 * One line per batch: its id, input rows, rates and where the time went.
 * @example progressLine(query.lastProgress!) // 'batch 0: 10000 rows, 0 rows/s in, 52000 rows/s processed, …'
 * @throws never.
 */
export function progressLine(p: StreamingQueryProgress): string {
  const d = p.durationMs
  const state = p.stateOperators.map((s) => `${s.operatorName} ${s.numRowsTotal} rows (${s.numRowsUpdated} updated)`).join(', ')
  return (
    `batch ${p.batchId}: ${p.numInputRows} rows, ${Math.round(p.inputRowsPerSecond)} rows/s in, ` +
    `${Math.round(p.processedRowsPerSecond)} rows/s processed, ${d.triggerExecution} ms ` +
    `(latestOffset ${d.latestOffset}, getBatch ${d.getBatch}, addBatch ${d.addBatch}, walCommit ${d.walCommit}, ` +
    `commitOffsets ${d.commitOffsets})${state ? `; state: ${state}` : ''}`
  )
}

function checkCounts(rows: readonly CountRow[], expected: ReadonlyMap<string, number>): void {
  const want = [...expected].filter(([gt]) => gt !== 'null').sort(([a], [b]) => a.localeCompare(b))
  const got = rows.map((r) => [r.key, r.count] as const)
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new CliError(`demo: the query's counts ${JSON.stringify(got)} differ from the generated data ${JSON.stringify(want)}`)
  }
}
