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
  let entries: Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
    if (rules.waitForDirectory) return []
    throw missingDirectory(dir)
  }
  const candidates = entries
    .filter((e) => e.isFile() && isInputName(e.name, rules.ignoreFiles) && (rules.readAppended || recent.has(e.name) || !seen.has(e.name)))
    .map((e) => e.name)
    .sort()
  const now = Date.now()
  const listed = await mapLimit(candidates, rules.statConcurrency, async (name): Promise<LoggedFile | undefined> => {
    const s = await stat(join(dir, name)).catch((error: unknown) => {
      // Gone between readdir and stat: not a file to read.
      if (errorCode(error) === 'ENOENT') return undefined
      throw error
    })
    // A file's time has sub-millisecond precision and `now` does not (and a writer's clock may be ahead): with no
    // minimum age, a file modified in the listing's own millisecond is read, not taken for one modified in the future.
    if (s === undefined || (rules.minFileAgeMs > 0 && now - s.mtimeMs < rules.minFileAgeMs)) return undefined
    if (rules.ignoreOlderThanMs !== undefined && s.mtimeMs < rules.ignoreOlderThanMs) return undefined
    if (!seen.has(name)) {
      if (!rules.readAppended || s.size === 0) return { name, size: s.size, mtimeMs: s.mtimeMs }
      const end = await completeLinesEnd(join(dir, name), 0, s, now, rules)
      return end === 0 ? undefined : { name, size: end, mtimeMs: s.mtimeMs }
    }
    const readUpTo = seen.get(name)
    if (readUpTo === undefined || s.size <= readUpTo) return undefined
    if (!rules.readAppended) throw new SourceFileChangedError(join(dir, name), readUpTo, s.size)
    const end = await completeLinesEnd(join(dir, name), readUpTo, s, now, rules)
    return end === readUpTo ? undefined : { name, size: end, mtimeMs: s.mtimeMs, from: readUpTo }
  })
  return listed.filter((f): f is LoggedFile => f !== undefined)
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
