import { readdir, readFile } from 'node:fs/promises'
import { join, normalize } from 'node:path'
import * as t from 'io-ts'
import type { CheckpointFs } from '../durable/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import { BadRecordError } from '../errors.js'
import type { Codec } from '../plan/nodes.js'
import { decodeRow } from './decodeRow.js'
import type { Offset, Source, SourceReader } from './source.js'

/** Options of `jsonFiles`. */
export interface JsonFilesOptions<T> {
  /** io-ts codec every row must satisfy. */
  readonly codec: Codec<T>
  /** At most this many new files per micro-batch (default: all). */
  readonly maxFilesPerTrigger?: number
  /**
   * Where bad rows go instead of failing the query: a directory that receives one JSON-lines file per batch with
   * `{ file, line, codecPath, reason, text }` records. Without it, the first bad row fails the query.
   */
  readonly badRecords?: { readonly path: string }
}

const EXTENSIONS = /\.(json|jsonl|ndjson)$/
const COMPACT_INTERVAL = 10
const LogEntry = t.array(t.string)
const CompactEntry = t.type({ upTo: t.number, files: t.array(t.string) })

/**
 * Reads JSON-lines files (`.json`, `.jsonl`, `.ndjson`) from `dir` as a stream: every file exactly once, in name
 * order, at most `maxFilesPerTrigger` per batch. The files of each batch are logged under the checkpoint's
 * `sources/<i>` (compacted every 10 batches), so a re-run batch reads exactly the same files.
 * @example session.readStream(jsonFiles('/data/activity', { codec: Activity, maxFilesPerTrigger: 10 }))
 * Fails the query with BadRecordError (file, line, codec path) on a malformed line or a row failing its codec,
 * unless `badRecords` is set.
 */
export function jsonFiles<T>(dir: string, options: JsonFilesOptions<T>): Source<T> {
  const max = options.maxFilesPerTrigger
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new RangeError(`jsonFiles(${dir}): maxFilesPerTrigger must be a positive integer, got ${max}`)
  }
  return {
    description: `FileStreamSource[${dir}]`,
    kind: 'jsonFiles',
    identity: normalize(dir).replace(/(.)\/+$/, '$1'),
    async open(ctx): Promise<SourceReader<T>> {
      const log = new FileLog(ctx.fs, ctx.logDir)
      await log.load()
      let availableNowFiles: Set<string> | undefined
      let lastBatchBad = 0
      let totalBad = 0
      return {
        initialOffset: () => -1,
        progressOffset: (offset) => ({ logOffset: offset }),
        async latestOffset(start, limit) {
          const from = asLogOffset(start)
          // A batch already logged beyond `start` (a re-run after a crash) is reused, never re-listed.
          if (log.latest > from) return from + 1
          let fresh = (await listJsonFiles(dir)).filter((f) => !log.seen.has(f))
          if (availableNowFiles !== undefined) fresh = fresh.filter((f) => availableNowFiles!.has(f))
          if (limit === 'default' && max !== undefined) fresh = fresh.slice(0, max)
          if (fresh.length === 0) return from
          await log.add(from + 1, fresh)
          return from + 1
        },
        async getBatch(start, end) {
          const rows: T[] = []
          const bad: BadRow[] = []
          const paths: string[] = []
          for (let n = asLogOffset(start) + 1; n <= asLogOffset(end); n++) {
            for (const name of await log.filesOf(n)) paths.push(join(dir, name))
          }
          // Reads overlap: the next files load while the current one is parsed.
          const contents = paths.map((path) => readFile(path))
          contents.forEach((c) => c.catch(() => undefined))
          for (let i = 0; i < paths.length; i++) {
            parseRows(paths[i]!, (await contents[i]!).toString('utf8'), options.codec, rows, bad, options.badRecords !== undefined)
          }
          lastBatchBad = bad.length
          totalBad += bad.length
          if (bad.length > 0) await writeDeadLetters(ctx.fs, options.badRecords!.path, asLogOffset(end), bad)
          return rows
        },
        async commit(end) {
          await log.compact(asLogOffset(end))
        },
        async prepareForTriggerAvailableNow() {
          availableNowFiles = new Set(await listJsonFiles(dir))
        },
        metrics: () => ({ numBadRecords: lastBatchBad, numBadRecordsTotal: totalBad }),
        async stop() {},
      }
    },
  }
}

interface BadRow {
  readonly file: string
  readonly line: number
  readonly codecPath: string
  readonly reason: string
  readonly text: string
}

async function listJsonFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return []
    throw e
  })
  return entries
    .filter((e) => e.isFile() && EXTENSIONS.test(e.name) && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort()
}

/**
 * Parses a file's lines into `rows`; a bad line throws BadRecordError, or is collected in `bad` when tolerated. The
 * file is read as one buffer and decoded at once, which is much cheaper than readFile's streaming utf8 decoder.
 */
function parseRows<T>(path: string, text: string, codec: Codec<T>, rows: T[], bad: BadRow[], tolerate: boolean): void {
  let lineStart = 0
  let lineNo = 0
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart)
    if (lineEnd === -1) lineEnd = text.length
    lineNo++
    const line = text.slice(lineStart, lineEnd)
    lineStart = lineEnd + 1
    if (line.length === 0 || (line.length < 3 && line.trim().length === 0)) continue
    let failure: { codecPath: string; reason: string }
    try {
      const r = decodeRow(codec as t.Mixed, JSON.parse(line))
      if (r.ok) {
        rows.push(r.value as T)
        continue
      }
      failure = r
    } catch (e) {
      if (line.trim().length === 0) continue
      failure = { codecPath: '', reason: `malformed JSON: ${(e as Error).message}` }
    }
    if (!tolerate) throw new BadRecordError(path, lineNo, failure.codecPath, failure.reason)
    bad.push({ file: path, line: lineNo, ...failure, text: line.length > 1000 ? `${line.slice(0, 1000)}…` : line.trim() })
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

/**
 * The source's own log: `<n>` lists the files of source batch n; `<n>.compact` lists every file seen up to n, after
 * which older entries are deleted. Without a checkpoint the log lives in memory.
 */
class FileLog {
  readonly seen = new Set<string>()
  private readonly entries = new Map<number, string[]>()
  latest = -1

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string | undefined,
  ) {}

  async load(): Promise<void> {
    if (this.dir === undefined) return
    const names = await this.fs.readdir(this.dir)
    const compacts = names.filter((n) => /^\d+\.compact$/.test(n)).map((n) => Number.parseInt(n, 10))
    const base = compacts.length > 0 ? Math.max(...compacts) : -1
    if (base >= 0) {
      const c = await readCheckpointJson(this.fs, join(this.dir, `${base}.compact`), CompactEntry)
      for (const f of c.files) this.seen.add(f)
      this.latest = base
    }
    for (const n of names.filter((x) => /^\d+$/.test(x)).map(Number).sort((a, b) => a - b)) {
      if (n <= base) continue
      const files = await readCheckpointJson(this.fs, join(this.dir, String(n)), LogEntry)
      this.entries.set(n, files)
      for (const f of files) this.seen.add(f)
      this.latest = Math.max(this.latest, n)
    }
  }

  async add(n: number, files: string[]): Promise<void> {
    if (this.dir !== undefined) await writeCheckpointJson(this.fs, join(this.dir, String(n)), files)
    this.entries.set(n, files)
    for (const f of files) this.seen.add(f)
    this.latest = n
  }

  async filesOf(n: number): Promise<string[]> {
    const files = this.entries.get(n)
    if (files === undefined) throw new Error(`jsonFiles: source log has no entry ${n} (was it compacted before commit?)`)
    return files
  }

  /** After batch `n` committed: every COMPACT_INTERVAL source batches, fold the entries up to n into one file. */
  async compact(n: number): Promise<void> {
    if (n < 0 || (n + 1) % COMPACT_INTERVAL !== 0) return
    const committed = [...this.seen].filter((f) => ![...this.entries].some(([m, fs]) => m > n && fs.includes(f)))
    if (this.dir !== undefined) {
      await writeCheckpointJson(this.fs, join(this.dir, `${n}.compact`), { upTo: n, files: committed.sort() })
      for (const name of await this.fs.readdir(this.dir)) {
        const m = Number.parseInt(name, 10)
        if (Number.isFinite(m) && (m < n || (m === n && !name.endsWith('.compact')))) await this.fs.remove(join(this.dir, name))
      }
    }
    for (const m of [...this.entries.keys()]) if (m <= n) this.entries.delete(m)
  }
}
