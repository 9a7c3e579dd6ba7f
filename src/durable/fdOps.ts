/**
 * The file-descriptor calls under `nodeFs`'s durable writes, on Node's callback API. Each call is one trip to
 * libuv's thread pool either way; the callback form skips what `fs/promises` adds per call (a `FileHandle` object
 * with its event emitter and close tracking, a promise-aware request per call), which on the benchmark VM made an
 * atomic write cost about 1.5 times the main-thread CPU. A checkpoint makes several atomic writes per micro-batch,
 * so this is on the engine's hot path.
 */
import * as fs from 'node:fs'

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
 * Makes a directory's entries (creations, renames, removals in it) durable: open it read-only, fsync, close.
 * @example await fsyncDir('/ckpt/offsets')
 * @throws the Node error of opening or syncing it, except on platforms that cannot sync a directory (Windows
 * answers EISDIR/EPERM to the open; some file systems EINVAL to the fsync), where it resolves.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fd: number
  try {
    fd = await openFd(dir, fs.constants.O_RDONLY)
  } catch (error) {
    if (['EISDIR', 'EPERM'].includes(codeOf(error) ?? '')) return
    throw error
  }
  try {
    await fsyncFd(fd)
  } catch (error) {
    if (!DIR_SYNC_UNSUPPORTED.includes(codeOf(error) ?? '')) throw error
  } finally {
    await closeFd(fd)
  }
}
