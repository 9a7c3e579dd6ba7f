/**
 * Activity data arriving live, for the demo: a writer that drops a JSON-lines file of activity rows into a directory
 * at a steady rate, stamped with the current time (so event-time windows close as the clock moves), and a reader
 * that counts what the directory holds, against which the demo checks its query's result.
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { activityFileName, activityRows } from './activityData.js'

/** A running activity writer. */
export interface ActivityWriter {
  /** Files and rows written by this writer so far. */
  readonly written: () => { readonly files: number; readonly rows: number }
  /** Stops writing; resolves once the file being written (if any) is in place. */
  stop(): Promise<void>
}

/** Options of `writeActivityLive`. */
export interface LiveActivityOptions {
  /** Rows per second, spread evenly over the files. */
  readonly rowsPerSecond: number
  /** A new file every this many milliseconds (default 500). */
  readonly everyMs?: number
  /** Number of the first file (files already in the directory are never overwritten). */
  readonly firstFile: number
  readonly seed: number
  /** Where a write failure goes; the writer stops after it. */
  readonly onError: (error: unknown) => void
}

/**
 * Writes `rowsPerSecond × everyMs / 1000` rows every `everyMs` as the next `part-NNNNN.json`. Each file is written
 * under a hidden name and renamed into place, so a query never sees half a file.
 * @example const writer = writeActivityLive(dir, { rowsPerSecond: 2000, firstFile: 0, seed: 42, onError: console.error })
 * @throws never; write errors go to `onError`.
 */
export function writeActivityLive(dir: string, options: LiveActivityOptions): ActivityWriter {
  const everyMs = options.everyMs ?? 500
  const perFile = Math.max(1, Math.round((options.rowsPerSecond * everyMs) / 1000))
  let next = options.firstFile
  let files = 0
  let rows = 0
  let writing: Promise<void> = Promise.resolve()
  const writeOne = async (): Promise<void> => {
    const name = activityFileName(next)
    const batch = activityRows(next, perFile, options.seed, Date.now() - everyMs, everyMs / perFile)
    const hidden = join(dir, `.${name}.tmp`)
    await writeFile(hidden, batch.map((r) => JSON.stringify(r)).join('\n') + '\n')
    await rename(hidden, join(dir, name))
    next++
    files++
    rows += batch.length
  }
  const timer = setInterval(() => {
    writing = writing.then(writeOne).catch((error: unknown) => {
      clearInterval(timer)
      options.onError(error)
    })
  }, everyMs)
  return {
    written: () => ({ files, rows }),
    stop: async () => {
      clearInterval(timer)
      await writing
    },
  }
}

/**
 * The activity files in `dir` (hidden files skipped, as `jsonFiles` does): how many, and the number of the next one.
 * @example await activityFilesIn('/tmp/demo/activity-data') // { files: 40, nextFile: 40 }
 * @throws the file-system error of listing the directory.
 */
export async function activityFilesIn(dir: string): Promise<{ files: number; nextFile: number }> {
  const numbers = (await readdir(dir))
    .map((name) => /^part-(\d+)\.json$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
  return { files: numbers.length, nextFile: numbers.length === 0 ? 0 : Math.max(...numbers) + 1 }
}

/**
 * Counts the rows per activity (`gt`) in every activity file of `dir`: what a correct query over it must report.
 * @example await countActivity(dir) // { rows: 30000, byActivity: Map { 'walk' => 4300, … } }
 * @throws the file-system error of a read; SyntaxError for a line that is not JSON.
 */
export async function countActivity(dir: string): Promise<{ rows: number; byActivity: Map<string, number> }> {
  const byActivity = new Map<string, number>()
  let rows = 0
  for (const name of (await readdir(dir)).filter((n) => /^part-\d+\.json$/.test(n))) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      if (line === '') continue
      const gt = (JSON.parse(line) as { gt: string }).gt
      byActivity.set(gt, (byActivity.get(gt) ?? 0) + 1)
      rows++
    }
  }
  return { rows, byActivity }
}
