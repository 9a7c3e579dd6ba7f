import { watch } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { join, normalize } from 'node:path'
import type { CheckpointFs } from '../durable/fs.js'
import { errorCode } from '../durable/fs.js'
import { PathNotFoundError, SourceFileChangedError } from '../errors.js'
import type { Codec } from '../plan/nodes.js'
import { mapLimit } from '../util/mapLimit.js'
import { DirectoryLister, type ListingRules, listNewFiles, missingDirectory, RECENT_MS } from './fileListing.js'
import { FileLog, type LoggedFile } from './fileLog.js'
import { InFileOrder } from './inFileOrder.js'
import { type BadRow, readJsonLines } from './jsonLines.js'
import type { Offset, Source, SourceReader } from './source.js'

/**
 * Options of `jsonFiles`.
 * @example jsonFiles('/data/in', { codec: t.type({ user: t.string, ts: t.number }), maxFilesPerTrigger: 100, badRecords: { path: '/data/bad' } })
 */
export interface JsonFilesOptions<T> {
  /** io-ts codec every row must satisfy. */
  readonly codec: Codec<T>
  /** At most this many new files per micro-batch (default 1000, so a backlog is read in batches of bounded size). */
  readonly maxFilesPerTrigger?: number
  /**
   * Where bad rows go instead of failing the query: a directory that receives one JSON-lines file per batch with
   * `{ file, line, codecPath, reason, text }` records. Without it, the first bad row fails the query.
   */
  readonly badRecords?: { readonly path: string }
  /**
   * Files modified less than this many ms ago are left for a later batch (default 0: every file listed is read, also
   * one whose modification time is ahead of this host's clock).
   */
  readonly minFileAgeMs?: number
  /** File names matching this are never read, e.g. `/\.inprogress\./` for a writer's temp names. */
  readonly ignoreFiles?: RegExp
  /**
   * What a file that changed after it was logged for a batch means: `'fail'` (default) fails the batch naming it;
   * `'readAppended'` reads the logged bytes in their batch and bytes appended later as a new version of the file.
   * A file is then logged only up to its last newline, so no batch holds a line its writer has not finished; a last
   * line without a newline is read once the file is old enough (`minFileAgeMs` above 0, else 5 minutes unmodified).
   */
  readonly fileChanges?: 'fail' | 'readAppended'
  /** Skip input files deleted after they were logged (counted as `numMissingFiles`) instead of failing. */
  readonly ignoreMissingFiles?: boolean
  /** Start even when the directory does not exist yet, and read it once it appears (default: refuse at start). */
  readonly waitForDirectory?: boolean
  /**
   * Files modified more than this long before the newest file read are ignored, and forgotten when the source log is
   * compacted, which bounds the log (Spark's `maxFileAge`; default: every file is remembered forever).
   */
  readonly maxFileAgeMs?: number
  /** Files read at once (default 16): bounds open file handles however many files a batch has. */
  readonly maxConcurrentReads?: number
}

const DEFAULT_MAX_FILES_PER_TRIGGER = 1000
const DEFAULT_CONCURRENT_READS = 16

/**
 * Reads JSON-lines files (`.json`, `.jsonl`, `.ndjson`) from `dir` as a stream: every file exactly once, in name
 * order, at most `maxFilesPerTrigger` (default 1000) per batch. The files of each batch are logged under the
 * checkpoint's `sources/<i>` with their size and modification time, so a re-run batch reads exactly the same bytes.
 * Files are read as a stream of lines, at most `maxConcurrentReads` at a time. Names starting with `.` or `_` are
 * never input: write files elsewhere (or under such a name) and rename them into `dir` when complete.
 * @example session.readStream(jsonFiles('/data/activity', { codec: Activity, maxFilesPerTrigger: 10 }))
 * @throws RangeError for an invalid option. `start()` fails with PathNotFoundError when `dir` does not exist
 * (unless `waitForDirectory`). A batch fails with BadRecordError (file, line, codec path) on a malformed line, a line
 * that is not valid UTF-8 or a row failing its codec (unless `badRecords` is set), with SourceFileChangedError for a
 * file that changed after it was logged, and with PathNotFoundError for a logged file that was deleted (unless
 * `ignoreMissingFiles`).
 */
export function jsonFiles<T>(dir: string, options: JsonFilesOptions<T>): Source<T> {
  const max = positiveInteger(dir, 'maxFilesPerTrigger', options.maxFilesPerTrigger) ?? DEFAULT_MAX_FILES_PER_TRIGGER
  const concurrency = positiveInteger(dir, 'maxConcurrentReads', options.maxConcurrentReads) ?? DEFAULT_CONCURRENT_READS
  const rules: ListingRules = {
    ignoreFiles: options.ignoreFiles,
    minFileAgeMs: options.minFileAgeMs ?? 0,
    readAppended: options.fileChanges === 'readAppended',
    waitForDirectory: options.waitForDirectory ?? false,
    statConcurrency: concurrency,
  }
  return {
    description: `FileStreamSource[${dir}]`,
    kind: 'jsonFiles',
    identity: normalize(dir).replace(/(.)\/+$/, '$1'),
    async open(ctx): Promise<SourceReader<T>> {
      await checkDirectory(dir, rules.waitForDirectory)
      const log = new FileLog(ctx.fs, ctx.logDir)
      await log.load()
      const lister = new DirectoryLister(dir, rules)
      let availableNowFiles: Set<string> | undefined
      const oldestKept = () => (options.maxFileAgeMs === undefined ? undefined : log.newestMtimeMs - options.maxFileAgeMs)
      const last = { bad: 0, missing: 0 }
      const total = { bad: 0, missing: 0 }
      /** Reads the files logged for `(start, end]`, handing their rows to `onBlock` in file order; returns how many. */
      const read = async (start: Offset, end: Offset, onBlock: (rows: T[]) => void): Promise<number> => {
        const parts: { n: number; file: LoggedFile }[] = []
        for (let n = asLogOffset(start) + 1; n <= asLogOffset(end); n++) {
          for (const file of log.filesOf(n)) if (file.missing !== true) parts.push({ n, file })
        }
        const tolerate = options.badRecords !== undefined
        const inOrder = new InFileOrder(parts.length, onBlock)
        const results = await mapLimit(parts, concurrency, async ({ file }, i) => {
          const r = await readFileRows(dir, file, options, tolerate, inOrder.blockOf(i))
          inOrder.end(i)
          return r
        })
        const bad: BadRow[] = []
        let missing = 0
        for (let i = 0; i < results.length; i++) {
          const r = results[i]!
          if (r === 'missing') {
            await log.markMissing(parts[i]!.n, parts[i]!.file.name)
            missing++
          } else for (const b of r.bad) bad.push(b)
        }
        last.bad = bad.length
        last.missing = missing
        total.bad += bad.length
        total.missing += missing
        if (bad.length > 0) await writeDeadLetters(ctx.fs, options.badRecords!.path, asLogOffset(end), bad)
        return inOrder.rows
      }
      return {
        initialOffset: () => -1,
        progressOffset: (offset) => ({ logOffset: offset }),
        async latestOffset(start, limit) {
          const from = asLogOffset(start)
          log.assertReaches(from)
          // A batch already logged beyond `start` (a re-run after a crash) is reused, never re-listed.
          if (log.latest > from) return from + 1
          // Files modified within the last few minutes are watched for growth: a writer may not be done with them.
          log.forgetRecent(Date.now() - RECENT_MS)
          let fresh = await lister.list(log.seen, log.recent, oldestKept())
          if (availableNowFiles !== undefined) fresh = fresh.filter((f) => availableNowFiles!.has(f.name))
          if (limit === 'default') fresh = fresh.slice(0, max)
          if (fresh.length === 0) return from
          await log.add(from + 1, fresh)
          return from + 1
        },
        async getBatch(start, end) {
          const blocks: T[][] = []
          await read(start, end, (block) => blocks.push(block))
          if (blocks.length === 1) return blocks[0]!
          const rows: T[] = []
          for (const block of blocks) for (const row of block) rows.push(row)
          return rows
        },
        readBatch: (start, end, onBlock) => read(start, end, onBlock),
        async commit(end) {
          await log.compact(asLogOffset(end), oldestKept())
        },
        async prepareForTriggerAvailableNow() {
          availableNowFiles = new Set((await listNewFiles(dir, log.seen, new Set(), { ...rules, readAppended: false })).map((f) => f.name))
          if (rules.readAppended) for (const name of log.seen.keys()) availableNowFiles.add(name)
        },
        onDataAvailable(listener) {
          // A new file wakes an idle query at once where the platform can watch the directory; elsewhere it is polled.
          try {
            const watcher = watch(dir, { persistent: false }, () => listener())
            watcher.on('error', () => watcher.close())
            return () => watcher.close()
          } catch {
            return () => undefined
          }
        },
        metrics: () => ({
          numBadRecords: last.bad,
          numBadRecordsTotal: total.bad,
          numMissingFiles: last.missing,
          numMissingFilesTotal: total.missing,
        }),
        async stop() {},
      }
    },
  }
}

function positiveInteger(dir: string, name: string, value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(`jsonFiles(${dir}): ${name} must be a positive integer, got ${value}`)
  }
  return value
}

/** At start: the directory must exist (or be waited for) and be a directory. */
async function checkDirectory(dir: string, waitForDirectory: boolean): Promise<void> {
  try {
    const s = await stat(dir)
    if (!s.isDirectory()) throw new PathNotFoundError(dir, 'jsonFiles needs a directory, and this path is a file')
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
    if (!waitForDirectory) throw missingDirectory(dir)
  }
}

/**
 * Reads exactly the logged bytes of one file. 'missing' when it was deleted and `ignoreMissingFiles` is set.
 * @throws PathNotFoundError for a deleted file; SourceFileChangedError for a file that changed since it was logged.
 */
async function readFileRows<T>(
  dir: string,
  file: LoggedFile,
  options: JsonFilesOptions<T>,
  tolerate: boolean,
  onBlock: (rows: T[]) => void,
): Promise<{ bad: BadRow[] } | 'missing'> {
  const path = join(dir, file.name)
  let handle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
    if (options.ignoreMissingFiles === true) return 'missing'
    throw new PathNotFoundError(
      path,
      'the input file was deleted after it was logged for a batch, so the batch cannot be re-read; restore the file, ' +
        'or restart with jsonFiles option ignoreMissingFiles: true to skip it (recorded in the checkpoint)',
    )
  }
  try {
    const now = await handle.stat()
    const from = file.from ?? 0
    const end = file.size ?? now.size
    const grown = options.fileChanges === 'readAppended' && now.size >= end
    if (file.size !== undefined && !grown && (now.size !== file.size || now.mtimeMs !== file.mtimeMs)) {
      throw new SourceFileChangedError(path, file.size, now.size)
    }
    const target = { codec: options.codec, rows: [] as T[], bad: tolerate ? ([] as BadRow[]) : undefined, onBlock }
    const label = from > 0 ? `${path} (appended from byte ${from})` : path
    const bytes = await readJsonLines(handle, label, from, end, target)
    if (bytes < end - from) throw new SourceFileChangedError(path, end, from + bytes)
    return { bad: target.bad ?? [] }
  } finally {
    await handle.close()
  }
}

/** One dead-letter file per batch, written atomically, so a re-run batch rewrites it instead of duplicating it. */
async function writeDeadLetters(fs: CheckpointFs, dir: string, batch: number, bad: BadRow[]): Promise<void> {
  const body = bad.map((b) => JSON.stringify(b)).join('\n') + '\n'
  await fs.writeFileAtomic(join(dir, `bad-records-${String(batch).padStart(8, '0')}.jsonl`), body)
}

function asLogOffset(offset: Offset): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < -1) {
    throw new TypeError(`jsonFiles: offset must be a source log batch number, got ${JSON.stringify(offset)}`)
  }
  return offset
}
