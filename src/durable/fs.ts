/**
 * durable/ — the floor every persistent thing stands on: the file-system door `CheckpointFs` with its Node and S3
 * implementations, the versioned and checksummed file format, the batch-id log, the lock, the fault-injecting and
 * counting file systems of tests, and the retry with back-off of calls to external systems. It imports only util/
 * and errors.
 */
/**
 * The only door to the disk. Everything the engine persists (checkpoint logs and metadata, state files, source
 * logs, sink manifests, rescale's directory swaps) is read and written through a {@link CheckpointFs}, so tests and
 * laws can swap in a fault injector (see `faultFs.ts`) and crash a query at any single I/O step.
 */
import { randomBytes } from 'node:crypto'
import { constants as fsConstants, createReadStream } from 'node:fs'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { sweepTempFiles } from './tempFiles.js'

/**
 * File-system operations the checkpoint layer needs, with the durability each one promises.
 * Mutating methods (`writeFileAtomic`, `appendFileDurable`, `mkdirp`, `remove`, `renameDurable`, `createExclusive`) are durable when
 * their promise resolves; a crash before that leaves either the old state or the new one, never a mix, except that
 * an interrupted `appendFileDurable` may leave a partial tail (write-ahead-log readers must tolerate it).
 * @example
 * const fs: CheckpointFs = nodeFs
 * await fs.writeFileAtomic('/ckpt/offsets/0', 'v1\n…')
 * const names = await fs.readdir('/ckpt/offsets') // ['0']
 * @throws Node-style errors (`code` 'ENOENT', 'ENOSPC', 'EIO', …) as documented on each method.
 */
export interface CheckpointFs {
  /** The whole file. Rejects with an error whose `code` is 'ENOENT' when it is missing. */
  readFile(path: string): Promise<Buffer>
  /** Optional: the file as a stream of chunks, so a large one is never held whole (readers fall back to readFile). */
  readChunks?(path: string): AsyncIterable<Uint8Array>
  /**
   * Replaces `path` atomically: writes `.<basename>.<pid>.<random>.tmp` next to it, fsyncs it, renames it over
   * `path`, fsyncs the directory. Creates missing parent directories. Readers see the old or the new content.
   */
  writeFileAtomic(path: string, data: string | Uint8Array): Promise<void>
  /** Appends and fsyncs (creating the file and its parents if needed), for write-ahead logs. */
  appendFileDurable(path: string, data: string | Uint8Array): Promise<void>
  /** Whether anything exists at `path`. */
  exists(path: string): Promise<boolean>
  /** Entry names of a directory, sorted, without hidden/temp names (starting with '.'); [] if it is missing. */
  readdir(path: string): Promise<string[]>
  /** Creates a directory and its missing parents, durably. Existing directories are fine. */
  mkdirp(path: string): Promise<void>
  /** Removes a file or a directory tree. A missing path is fine. */
  remove(path: string): Promise<void>
  /**
   * Renames a file or directory and fsyncs the parent directories, so the rename is on disk when this resolves.
   * Rejects with 'ENOENT' when `from` is missing, 'ENOTEMPTY' when `to` is a non-empty directory.
   */
  renameDurable(from: string, to: string): Promise<void>
  /** Size in bytes. Rejects with 'ENOENT' when missing. */
  size(path: string): Promise<number>
  /**
   * Creates `path` with `data` only if nothing exists there, durably, and without ever exposing a partly written
   * file. Resolves false if `path` exists. Used for the checkpoint lock.
   */
  createExclusive(path: string, data: string | Uint8Array): Promise<boolean>
  /**
   * Removes the temp files that atomic writes of crashed processes left anywhere under `root` (a process still alive
   * may be mid-write, so its temp files stay, as do those of lock claims); returns the paths removed. Optional: a
   * file system without it keeps its litter, which `readdir` hides anyway.
   */
  sweepTempFiles?(root: string): Promise<string[]>
  /**
   * Where `path` lives, as a user would look for it (e.g. `s3://bucket/key` for an object store), for error messages.
   * Optional: without it, errors name the path itself.
   */
  describe?(path: string): string
}

/**
 * Name of the temp file `writeFileAtomic` writes before renaming it over `path`: `.<basename>.<pid>.<token>.tmp`
 * in the same directory (a rename is only atomic within one file system).
 * @example
 * tempPathFor('/ckpt/offsets/3', 'a1b2') // '/ckpt/offsets/.3.<pid>.a1b2.tmp'
 * @throws never.
 */
export function tempPathFor(path: string, token: string = randomBytes(6).toString('hex')): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${token}.tmp`)
}

/**
 * Whether a directory entry name is hidden from {@link CheckpointFs.readdir}: temp files of interrupted atomic
 * writes and any other dot file.
 * @example
 * isHiddenName('.3.4242.a1b2.tmp') // true
 * @throws never.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.')
}

/**
 * The Node error code (`'ENOENT'`, `'ENOSPC'`, …) of a rejection from a {@link CheckpointFs}, if it has one.
 * @example
 * try { await fs.readFile(path) } catch (e) { if (errorCode(e) === 'ENOENT') return undefined; throw e }
 * @throws never.
 */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined
}

/** Makes a directory's entries (creations, renames, removals in it) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(dir, fsConstants.O_RDONLY)
  } catch (error) {
    // Platforms that cannot open directories (Windows) give no way to fsync them; the rename is all we can do.
    if (['EISDIR', 'EPERM'].includes(errorCode(error) ?? '')) return
    throw error
  }
  try {
    await handle.sync()
  } catch (error) {
    if (!['EINVAL', 'EBADF', 'EPERM', 'EISDIR'].includes(errorCode(error) ?? '')) throw error
  } finally {
    await handle.close()
  }
}

async function mkdirp(path: string): Promise<void> {
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

async function writeDurably(handle: fsp.FileHandle, data: string | Uint8Array, path: string): Promise<void> {
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (error) {
    throw namingPath(error, path)
  }
}

/** Node's errors of write() and fsync() (ENOSPC, EIO) name no file: add it, keeping `code`. */
function namingPath(error: unknown, path: string): unknown {
  if (error instanceof Error && !error.message.includes(path)) error.message = `${error.message} (writing ${path})`
  return error
}

const removeQuietly = (path: string): Promise<void> => fsp.rm(path, { force: true }).catch(() => undefined)

async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path)
  await mkdirp(dir)
  const temp = tempPathFor(path)
  try {
    const handle = await fsp.open(temp, 'wx')
    try {
      await writeDurably(handle, data, path)
    } finally {
      await handle.close()
    }
    await fsp.rename(temp, path)
  } catch (error) {
    // A failed write (ENOSPC, EIO) should not leave litter; a real crash still may, which readdir hides.
    await removeQuietly(temp)
    throw error
  }
  await fsyncDir(dir)
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path)
    return true
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return false
    throw error
  }
}

async function appendFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path)
  await mkdirp(dir)
  const isNew = !(await exists(path))
  const handle = await fsp.open(path, 'a')
  try {
    await writeDurably(handle, data, path)
  } finally {
    await handle.close()
  }
  if (isNew) await fsyncDir(dir)
}

async function readdir(path: string): Promise<string[]> {
  try {
    const names = await fsp.readdir(path)
    return names.filter((name) => !isHiddenName(name)).sort()
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return []
    throw error
  }
}

async function remove(path: string): Promise<void> {
  await fsp.rm(path, { recursive: true, force: true })
  if (await exists(dirname(path))) await fsyncDir(dirname(path))
}

async function renameDurable(from: string, to: string): Promise<void> {
  await fsp.rename(from, to)
  await fsyncDir(dirname(to))
  if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from))
}

/** File systems without hard links (FAT, some network mounts) answer link() with one of these. */
const LINK_UNSUPPORTED = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']

async function createWithOpenExclusive(path: string, data: string | Uint8Array): Promise<boolean> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(path, 'wx')
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await writeDurably(handle, data, path)
  } catch (error) {
    // An empty or partial file would block everyone until judged stale; better not to leave it.
    await handle.close()
    await removeQuietly(path)
    throw error
  }
  await handle.close()
  return true
}

async function createExclusive(path: string, data: string | Uint8Array): Promise<boolean> {
  const dir = dirname(path)
  await mkdirp(dir)
  // Write a complete temp file and hard-link it into place: link() fails if the target exists, like O_EXCL, and the
  // file appears with its whole content, so no reader ever sees a half-written lock and judges it stale.
  const temp = tempPathFor(path)
  let created: boolean
  try {
    const handle = await fsp.open(temp, 'wx')
    try {
      await writeDurably(handle, data, path)
    } finally {
      await handle.close()
    }
    try {
      await fsp.link(temp, path)
      created = true
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false
      if (!LINK_UNSUPPORTED.includes(errorCode(error) ?? '')) throw error
      created = await createWithOpenExclusive(path, data)
    }
  } finally {
    await removeQuietly(temp)
  }
  if (created) await fsyncDir(dir)
  return created
}

/**
 * {@link CheckpointFs} on `node:fs/promises`, with real fsync of files and directories.
 * @example
 * await nodeFs.writeFileAtomic('/tmp/ckpt/metadata', 'v1\n…')
 * (await nodeFs.readFile('/tmp/ckpt/metadata')).toString('utf8')
 * @throws the Node errors of the underlying calls, `code` preserved ('ENOENT', 'ENOSPC', 'EIO', 'EACCES', …).
 */
export const nodeFs: CheckpointFs = {
  readFile: (path) => fsp.readFile(path),
  readChunks: (path) => createReadStream(path, { highWaterMark: 1 << 20 }),
  writeFileAtomic,
  appendFileDurable,
  exists,
  readdir,
  mkdirp,
  remove,
  renameDurable,
  size: async (path) => (await fsp.stat(path)).size,
  createExclusive,
  sweepTempFiles,
}
