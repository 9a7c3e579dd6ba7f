/**
 * The file source's own log under `<checkpoint>/sources/<i>`: entry `<n>` lists the files of source batch n, each
 * with the size and modification time it had when it was listed, so every run and re-run of the batch reads exactly
 * those bytes; `<n>.compact` folds every entry up to n into one list of file names and sizes, after which older
 * entries are deleted. Without a checkpoint the log lives in memory.
 */
import { join } from 'node:path'
import * as t from 'io-ts'
import type { CheckpointFs } from '../durable/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import { CheckpointCorruptedError } from '../errors.js'

/** A file as logged for a batch: bytes `[from, size)` are the batch's; `missing` marks a file skipped as deleted. */
export interface LoggedFile {
  readonly name: string
  /** Undefined only in entries written before sizes were logged: such a file is read whole. */
  readonly size?: number
  readonly mtimeMs?: number
  readonly from?: number
  readonly missing?: boolean
}

const LoggedFileCodec = t.intersection([
  t.type({ name: t.string, size: t.number, mtimeMs: t.number }),
  t.partial({ from: t.number, missing: t.boolean }),
])
// Entries of older versions list bare names.
const LogEntry = t.array(t.union([t.string, LoggedFileCodec]))
const CompactEntry = t.type({
  upTo: t.number,
  files: t.array(t.union([t.string, t.intersection([t.type({ name: t.string, size: t.number }), t.partial({ mtimeMs: t.number })])])),
})

const COMPACT_INTERVAL = 10
const RECENT_FILES = 64


/** The source log of a file source. */
export class FileLog {
  /** Every file logged so far, with the size it was read up to (undefined: read whole, before sizes were logged). */
  readonly seen = new Map<string, number | undefined>()
  private readonly entries = new Map<number, LoggedFile[]>()
  /**
   * The most recently modified files logged (at most RECENT_FILES, in logging order), with the modification time
   * they were logged with: a writer may still be appending to them.
   */
  readonly recent = new Map<string, number>()
  /** Files folded into the last compaction, with how far they were read and when they were last modified. */
  private readonly compacted = new Map<string, { size?: number; mtimeMs?: number }>()
  /** The newest modification time of any logged file: the clock that `maxFileAgeMs` is measured on. */
  newestMtimeMs = Number.NEGATIVE_INFINITY
  latest = -1

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string | undefined,
  ) {}

  /** Reads the log from the checkpoint. @throws CheckpointCorruptedError for an entry that does not decode. */
  async load(): Promise<void> {
    if (this.dir === undefined) return
    const names = await this.fs.readdir(this.dir)
    const compacts = names.filter((n) => /^\d+\.compact$/.test(n)).map((n) => Number.parseInt(n, 10))
    const base = compacts.length > 0 ? Math.max(...compacts) : -1
    if (base >= 0) {
      const c = await readCheckpointJson(this.fs, join(this.dir, `${base}.compact`), CompactEntry)
      for (const f of c.files) {
        if (typeof f === 'string') this.compacted.set(f, {})
        else this.compacted.set(f.name, { size: f.size, mtimeMs: f.mtimeMs })
      }
      for (const [name, { size, mtimeMs }] of this.compacted) {
        this.seen.set(name, size)
        if (mtimeMs !== undefined) this.newestMtimeMs = Math.max(this.newestMtimeMs, mtimeMs)
      }
      this.latest = base
    }
    let expected = base + 1
    for (const n of names.filter((x) => /^\d+$/.test(x)).map(Number).sort((a, b) => a - b)) {
      if (n <= base) continue
      if (n !== expected) throw this.missing(expected, `the source log continues at batch ${n}`)
      expected = n + 1
      const files = (await readCheckpointJson(this.fs, join(this.dir, String(n)), LogEntry)).map(
        (f): LoggedFile => (typeof f === 'string' ? { name: f } : f),
      )
      this.entries.set(n, files)
      for (const f of files) this.note(f)
      this.latest = Math.max(this.latest, n)
    }
  }

  /**
   * Checks that the log reaches the batch the query committed: a log that ends before it lost entries, and reading
   * on would read every file again.
   * @throws CheckpointCorruptedError naming the log directory.
   */
  assertReaches(n: number): void {
    if (this.dir !== undefined && n > this.latest) {
      throw this.missing(this.latest + 1, `the query committed source batch ${n}, but the log ends at ${this.latest}`)
    }
  }

  private missing(n: number, detail: string): CheckpointCorruptedError {
    return new CheckpointCorruptedError(
      join(this.dir!, String(n)),
      `the source log entry is missing (${detail}): without it the files it listed would be read again; restore ` +
        `${this.dir} from a backup, or start the query on a new checkpoint location`,
    )
  }

  /** Logs the files of source batch `n`, durably before the batch is read. */
  async add(n: number, files: LoggedFile[]): Promise<void> {
    await this.write(n, files)
    for (const f of files) this.note(f)
    this.latest = n
  }

  private note(f: LoggedFile): void {
    this.seen.set(f.name, f.size)
    if (f.mtimeMs === undefined) return
    this.recent.delete(f.name)
    this.recent.set(f.name, f.mtimeMs)
    // A burst of files must not make every idle poll stat them all: the last few logged are the ones still written.
    if (this.recent.size > RECENT_FILES) this.recent.delete(this.recent.keys().next().value!)
    this.newestMtimeMs = Math.max(this.newestMtimeMs, f.mtimeMs)
  }

  /** Forgets recent files last modified before `mtimeMs`. */
  forgetRecent(beforeMs: number): void {
    for (const [name, mtimeMs] of this.recent) if (mtimeMs < beforeMs) this.recent.delete(name)
  }

  /** Marks a file of batch `n` as missing, durably, so every re-run of the batch skips it too. */
  async markMissing(n: number, name: string): Promise<void> {
    const files = this.filesOf(n).map((f) => (f.name === name ? { ...f, missing: true } : f))
    await this.write(n, files)
  }

  /**
   * The files of source batch `n`.
   * @throws Error when the entry is gone (compacted before its batch committed).
   */
  filesOf(n: number): LoggedFile[] {
    const files = this.entries.get(n)
    if (files === undefined) throw new Error(`jsonFiles: source log has no entry ${n} (was it compacted before commit?)`)
    return files
  }

  /**
   * After batch `n` committed: every COMPACT_INTERVAL source batches, fold the entries up to n into one file. Files
   * modified before `forgetBeforeMs` are left out (and forgotten): listing ignores them anyway, which bounds the list.
   */
  async compact(n: number, forgetBeforeMs = Number.NEGATIVE_INFINITY): Promise<void> {
    if (n < 0 || (n + 1) % COMPACT_INTERVAL !== 0) return
    for (const [m, files] of [...this.entries].sort(([a], [b]) => a - b)) {
      if (m <= n) for (const f of files) this.compacted.set(f.name, { size: f.size, mtimeMs: f.mtimeMs })
    }
    for (const [name, { mtimeMs }] of this.compacted) {
      if (mtimeMs !== undefined && mtimeMs < forgetBeforeMs) {
        this.compacted.delete(name)
        this.seen.delete(name)
      }
    }
    if (this.dir !== undefined) {
      const files = [...this.compacted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      await writeCheckpointJson(this.fs, join(this.dir, `${n}.compact`), {
        upTo: n,
        files: files.map(([name, f]) => (f.size === undefined ? name : { name, size: f.size, ...(f.mtimeMs === undefined ? {} : { mtimeMs: f.mtimeMs }) })),
      })
      for (const name of await this.fs.readdir(this.dir)) {
        const m = Number.parseInt(name, 10)
        if (Number.isFinite(m) && (m < n || (m === n && !name.endsWith('.compact')))) await this.fs.remove(join(this.dir, name))
      }
    }
    for (const m of [...this.entries.keys()]) if (m <= n) this.entries.delete(m)
  }

  private async write(n: number, files: LoggedFile[]): Promise<void> {
    if (this.dir !== undefined) {
      const encoded = files.map((f) => (f.size === undefined ? f.name : LoggedFileCodec.encode(f as t.TypeOf<typeof LoggedFileCodec>)))
      await writeCheckpointJson(this.fs, join(this.dir, String(n)), encoded)
    }
    this.entries.set(n, files)
  }
}
