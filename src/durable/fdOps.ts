/**
 * The file-descriptor calls under `nodeFs`'s durable writes, on Node's callback API. Each call is one trip to
 * libuv's thread pool either way; the callback form skips what `fs/promises` adds per call (a `FileHandle` object
 * with its event emitter and close tracking, a promise-aware request per call), which on the benchmark VM made an
 * atomic write cost about 1.5 times the main-thread CPU. A checkpoint makes several atomic writes per micro-batch,
 * so this is on the engine's hot path.
 */
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

/** Node's error code of a rejection (`'ENOENT'`, `'EEXIST'`, …), if it has one. */
function codeOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined
}

/**
 * Opens `path` (`flags` as in `fs.open`, e.g. `'wx'` to create a new file) and resolves its descriptor.
 * @example const fd = await openFd('/ckpt/offsets/.3.tmp', 'wx')
 * @throws the Node error of open(2), `code` preserved ('ENOENT', 'EEXIST', 'EACCES', …).
 */
export function openFd(path: string, flags: string | number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, 0o666, (error, fd) => (error ? reject(error) : resolve(fd))))
}

/**
 * Closes a descriptor.
 * @example await closeFd(fd)
 * @throws the Node error of close(2).
 */
export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (error) => (error ? reject(error) : resolve())))
}

/**
 * Flushes a descriptor's data and metadata to the device (fsync(2)).
 * @example await fsyncFd(fd)
 * @throws the Node error of fsync(2) ('EIO', 'ENOSPC', …).
 */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve())))
}

function writeOnce(fd: number, bytes: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, bytes, offset, bytes.length - offset, null, (error, written) => (error ? reject(error) : resolve(written))),
  )
}

/**
 * Writes all of `data` at the descriptor's position (a short write is continued), as UTF-8 for a string.
 * @example await writeAllFd(fd, 'v2\n…')
 * @throws the Node error of write(2) ('ENOSPC', 'EIO', …).
 */
export async function writeAllFd(fd: number, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  let offset = 0
  while (offset < bytes.length) offset += await writeOnce(fd, bytes, offset)
}

/**
 * Renames `from` to `to` (rename(2): atomic within one file system, replacing a file at `to`). Not durable by itself:
 * fsync the directory afterwards.
 * @example await renamePath('/ckpt/offsets/.3.tmp', '/ckpt/offsets/3')
 * @throws the Node error of rename(2), `code` preserved ('ENOENT', 'ENOTEMPTY', …).
 */
export function renamePath(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => fs.rename(from, to, (error) => (error ? reject(error) : resolve())))
}

/** What fsync of a directory answers on platforms or file systems that cannot sync one: nothing more can be done. */
const DIR_SYNC_UNSUPPORTED = ['EINVAL', 'EBADF', 'EPERM', 'EISDIR']

/**
 * Opens a directory for fsync: its descriptor, or undefined on platforms that cannot open one (Windows answers
 * EISDIR/EPERM).
 * @example const fd = await openDirFd('/ckpt/offsets')
 * @throws the Node error of open(2) otherwise ('ENOENT', 'EACCES', …).
 */
export async function openDirFd(dir: string): Promise<number | undefined> {
  try {
    return await openFd(dir, fs.constants.O_RDONLY)
  } catch (error) {
    if (['EISDIR', 'EPERM'].includes(codeOf(error) ?? '')) return undefined
    throw error
  }
}

/**
 * fsync of an open directory, resolving where the file system cannot sync one (EINVAL and the like).
 * @example await syncDirFd(fd)
 * @throws the Node error of fsync(2) otherwise ('EIO', …).
 */
export async function syncDirFd(fd: number): Promise<void> {
  try {
    await fsyncFd(fd)
  } catch (error) {
    if (!DIR_SYNC_UNSUPPORTED.includes(codeOf(error) ?? '')) throw error
  }
}

/**
 * Makes a directory's entries (creations, renames, removals in it) durable: open it read-only, fsync, close.
 * @example await fsyncDir('/ckpt/offsets')
 * @throws the Node error of opening or syncing it, except on platforms that cannot sync a directory (Windows
 * answers EISDIR/EPERM to the open; some file systems EINVAL to the fsync), where it resolves.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openDirFd(dir)
  if (fd === undefined) return
  try {
    await syncDirFd(fd)
  } finally {
    await closeFd(fd)
  }
}

/**
 * A file kept open so that later checks can tell, without reading it, whether its path still names it.
 * @example const pin = await pinPath('/ckpt/lock.3'); if (!(await pin.stillAt())) …; await pin.release()
 */
export interface PinnedFile {
  /** The pinned file's content, read through the open descriptor (so it is this file's, whatever the path names now). */
  read(): Promise<Buffer>
  /**
   * Whether the path still names the pinned file: one lstat, compared by device and inode. While the descriptor is
   * open its inode cannot be reused, so a file removed and created again at the path is a different file. False once
   * released.
   * @throws the Node error of lstat(2) other than ENOENT/ENOTDIR (which answer false).
   */
  stillAt(): Promise<boolean>
  /** Closes the descriptor; safe to call twice. */
  release(): Promise<void>
}

function statOf(fd: number): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (error, stats) => (error ? reject(error) : resolve(stats))))
}

function lstatOf(path: string): Promise<fs.BigIntStats | undefined> {
  return new Promise((resolve, reject) =>
    fs.lstat(path, { bigint: true }, (error, stats) => {
      if (error === null) resolve(stats)
      else if (['ENOENT', 'ENOTDIR'].includes(codeOf(error) ?? '')) resolve(undefined)
      else reject(error)
    }),
  )
}

function readAt(fd: number, into: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, into, 0, into.length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
  )
}

/** The whole file behind `fd`, read from offset 0 whatever the descriptor's position. */
async function readAllAt(fd: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let position = 0
  for (;;) {
    const chunk = Buffer.allocUnsafe(16_384)
    const n = await readAt(fd, chunk, position)
    if (n === 0) return Buffer.concat(chunks)
    chunks.push(chunk.subarray(0, n))
    position += n
  }
}

/**
 * Opens `path` read-only and pins it (see {@link PinnedFile}).
 * @example const pin = await pinPath('/ckpt/lock.3')
 * @throws the Node error of open(2) or fstat(2), `code` preserved ('ENOENT', 'EACCES', …).
 */
export async function pinPath(path: string): Promise<PinnedFile> {
  const fd = await openFd(path, fs.constants.O_RDONLY)
  let stats: fs.BigIntStats
  try {
    stats = await statOf(fd)
  } catch (error) {
    await closeFd(fd).catch(() => undefined)
    throw error
  }
  let released = false
  return {
    read: () => readAllAt(fd),
    async stillAt() {
      if (released) return false
      const now = await lstatOf(path)
      return now !== undefined && now.dev === stats.dev && now.ino === stats.ino
    },
    async release() {
      if (released) return
      released = true
      await closeFd(fd)
    },
  }
}

/**
 * Creates `path` and any missing parents, fsyncing the parent of each directory it created so the chain survives a
 * crash.
 * @example await mkdirp('/ckpt/state/count')
 * @throws the Node error of mkdir(2) or of an fsync.
 */
export async function mkdirp(path: string): Promise<void> {
  const target = resolve(path)
  const created = await fsp.mkdir(target, { recursive: true })
  if (created === undefined) return
  const firstCreated = resolve(created)
  // Each newly created directory is an entry in its parent; fsync those parents so the whole chain survives a crash.
  let dir = target
  const parents: string[] = []
  while (dir !== dirname(firstCreated)) {
    dir = dirname(dir)
    parents.unshift(dir)
    if (dir === dirname(dir)) break
  }
  for (const parent of parents) await fsyncDir(parent)
}
