/**
 * Lists the input files of a file source: which names count as input, which files are not ready yet, and the size and
 * modification time each new file has, to be logged with its batch.
 */
import type { Dirent } from 'node:fs'
import type { Stats } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode } from '../durable/fs.js'
import { PathNotFoundError, SourceFileChangedError } from '../errors.js'
import { mapLimit } from '../util/mapLimit.js'
import type { LoggedFile } from './fileLog.js'

const EXTENSIONS = /\.(json|jsonl|ndjson)$/

/**
 * How long after its last modification a file may still be written to: a logged file that grows within it fails
 * (without `readAppended`), and a line without a final newline is held back within it (with `readAppended`).
 */
export const RECENT_MS = 5 * 60_000

/** How many bytes are read at a time, from the end, to find a growing file's last newline. */
const TAIL_CHUNK = 64 * 1024

/** How a directory is listed. */
export interface ListingRules {
  /** Names matching it are never input (temp files of writers that write in place). */
  readonly ignoreFiles: RegExp | undefined
  /** Files modified less than this long ago are left for a later listing (0: every file listed is read). */
  readonly minFileAgeMs: number
  /** Files modified before this are never read (older than `maxFileAgeMs` behind the newest file logged). */
  readonly ignoreOlderThanMs?: number
  /** Whether files already seen are checked for appended bytes (a stat per seen file per listing). */
  readonly readAppended: boolean
  /** Whether a missing directory lists as empty rather than failing. */
  readonly waitForDirectory: boolean
  readonly statConcurrency: number
}

/** Whether a directory entry is an input file: a JSON-lines extension, not hidden (`.`) or metadata (`_`) by name. */
export function isInputName(name: string, ignoreFiles: RegExp | undefined): boolean {
  return EXTENSIONS.test(name) && !name.startsWith('.') && !name.startsWith('_') && !(ignoreFiles?.test(name) ?? false)
}

/**
 * The files of `dir` that a new batch should read, in name order: files not seen before, and (with `readAppended`)
 * the appended bytes of files seen before, as a new version from the size already read. Without `readAppended`, the
 * `recent` files (logged shortly ago, so perhaps still being written) are checked too, and one that grew fails.
 * With `readAppended` a file is taken only up to its last newline: the bytes after it may be a line its writer is
 * still writing, and wait for a later listing — until the file is old enough (`minFileAgeMs` above 0, or unmodified
 * for RECENT_MS), when they count as its last line.
 * @throws PathNotFoundError when `dir` does not exist (unless waited for); SourceFileChangedError for a recent file
 * that grew after it was read; other file-system errors as they are.
 */
export async function listNewFiles(
  dir: string,
  seen: ReadonlyMap<string, number | undefined>,
  recent: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  rules: ListingRules,
): Promise<LoggedFile[]> {
  return (await listDirectory(dir, seen, recent, rules)).files
}

/** What a listing found, and whether it left a file for later (not old enough yet, or a line not complete yet). */
interface Listing {
  readonly files: LoggedFile[]
  readonly heldBack: boolean
}

async function listDirectory(
  dir: string,
  seen: ReadonlyMap<string, number | undefined>,
  recent: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  rules: ListingRules,
): Promise<Listing> {
  let entries: Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
    if (rules.waitForDirectory) return { files: [], heldBack: false }
    throw missingDirectory(dir)
  }
  const candidates = entries
    .filter((e) => e.isFile() && isInputName(e.name, rules.ignoreFiles) && (rules.readAppended || recent.has(e.name) || !seen.has(e.name)))
    .map((e) => e.name)
    .sort()
  return examine(dir, candidates, seen, rules)
}

/** Stats each candidate name of `dir` and returns those with bytes a new batch should read. */
async function examine(dir: string, candidates: readonly string[], seen: ReadonlyMap<string, number | undefined>, rules: ListingRules): Promise<Listing> {
  const now = Date.now()
  let heldBack = false
  const listed = await mapLimit(candidates, rules.statConcurrency, async (name): Promise<LoggedFile | undefined> => {
    const s = await stat(join(dir, name)).catch((error: unknown) => {
      // Gone between readdir and stat: not a file to read.
      if (errorCode(error) === 'ENOENT') return undefined
      throw error
    })
    if (s === undefined) return undefined
    // A file's time has sub-millisecond precision and `now` does not (and a writer's clock may be ahead): with no
    // minimum age, a file modified in the listing's own millisecond is read, not taken for one modified in the future.
    if (rules.minFileAgeMs > 0 && now - s.mtimeMs < rules.minFileAgeMs) {
      heldBack = true
      return undefined
    }
    if (rules.ignoreOlderThanMs !== undefined && s.mtimeMs < rules.ignoreOlderThanMs) return undefined
    if (!seen.has(name)) {
      if (!rules.readAppended || s.size === 0) return { name, size: s.size, mtimeMs: s.mtimeMs }
      const end = await completeLinesEnd(join(dir, name), 0, s, now, rules)
      if (end < s.size) heldBack = true
      return end === 0 ? undefined : { name, size: end, mtimeMs: s.mtimeMs }
    }
    const readUpTo = seen.get(name)
    if (readUpTo === undefined || s.size <= readUpTo) return undefined
    if (!rules.readAppended) throw new SourceFileChangedError(join(dir, name), readUpTo, s.size)
    const end = await completeLinesEnd(join(dir, name), readUpTo, s, now, rules)
    if (end < s.size) heldBack = true
    return end === readUpTo ? undefined : { name, size: end, mtimeMs: s.mtimeMs, from: readUpTo }
  })
  return { files: listed.filter((f): f is LoggedFile => f !== undefined), heldBack }
}

/**
 * How long a directory must have gone unchanged before its change time is trusted to show a new entry: an entry
 * added within the file system's clock granularity of the last change may leave the time as it was.
 */
const SETTLED_MS = 2_000
/** Entries are read at least this often, for file systems whose directories' times do not move with their entries. */
const FULL_LISTING_MS = 10_000

/**
 * Lists a directory for new files as {@link listNewFiles} does, without reading its entries again while it stays
 * unchanged since a listing that found nothing new and held nothing back: adding, renaming in or removing an entry
 * moves a directory's modification and change times. A full listing still comes at least every FULL_LISTING_MS, and
 * it is also what checks the recent files for growth (a file that grew after it was read fails the query up to that
 * much later). With `readAppended`, where every seen file is checked for appended bytes, each listing is in full.
 * An idle query over thousands of processed files costs one stat of its directory per trigger instead of a listing.
 * @example const files = await new DirectoryLister('/data/in', rules).list(log.seen, log.recent)
 * @throws as {@link listNewFiles}.
 */
export class DirectoryLister {
  /** How many times the directory's entries were read: what an idle directory saves. */
  entryReads = 0
  private quiet: { readonly mtimeMs: number; readonly ctimeMs: number; readonly since: number } | undefined

  constructor(
    private readonly dir: string,
    private readonly rules: ListingRules,
    private readonly clock: () => number = Date.now,
  ) {}

  async list(
    seen: ReadonlyMap<string, number | undefined>,
    recent: ReadonlyMap<string, unknown>,
    ignoreOlderThanMs?: number,
  ): Promise<LoggedFile[]> {
    const rules = { ...this.rules, ignoreOlderThanMs }
    const now = this.clock()
    const before = await stat(this.dir).catch(() => undefined)
    const quiet = this.quiet
    if (quiet !== undefined && before !== undefined && before.mtimeMs === quiet.mtimeMs && before.ctimeMs === quiet.ctimeMs && now - quiet.since < FULL_LISTING_MS) {
      return []
    }
    this.quiet = undefined
    this.entryReads++
    const listing = await listDirectory(this.dir, seen, recent, rules)
    const settled = before !== undefined && now - before.mtimeMs >= SETTLED_MS && now - before.ctimeMs >= SETTLED_MS
    if (!this.rules.readAppended && settled && listing.files.length === 0 && !listing.heldBack) {
      this.quiet = { mtimeMs: before.mtimeMs, ctimeMs: before.ctimeMs, since: now }
    }
    return listing.files
  }
}

/**
 * Where the bytes of a growing file that a batch may take end: after its last newline at or past `from`, or at its
 * size once the file is old enough for a last line without a newline to be complete (or when it ends with one).
 */
async function completeLinesEnd(path: string, from: number, s: Stats, now: number, rules: ListingRules): Promise<number> {
  if (rules.minFileAgeMs > 0 || now - s.mtimeMs >= RECENT_MS) return s.size
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.allocUnsafe(Math.min(TAIL_CHUNK, s.size - from))
    for (let end = s.size; end > from; ) {
      const start = Math.max(from, end - buffer.length)
      const { bytesRead } = await handle.read(buffer, 0, end - start, start)
      // Fewer bytes than listed: the file was replaced meanwhile, which reading the batch reports.
      if (bytesRead < end - start) return s.size
      const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a)
      if (newline >= 0) return start + newline + 1
      end = start
    }
    return from
  } finally {
    await handle.close()
  }
}

/**
 * The error for a source directory that does not exist.
 * @example throw missingDirectory('/data/activty')
 * @throws never.
 */
export function missingDirectory(dir: string): PathNotFoundError {
  return new PathNotFoundError(
    dir,
    'the source directory of jsonFiles must exist when the query starts (check the path, or set waitForDirectory: true to wait for it to appear)',
  )
}
