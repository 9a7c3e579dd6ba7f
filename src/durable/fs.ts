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
import { readFile as readFileCallback } from 'node:fs'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { CheckpointFs } from './checkpointFs.js'
import { closeFd, fsyncDir, fsyncFd, mkdirp, openFd, pinPath, renamePath, writeAllFd } from './fdOps.js'
import { OpenDirectories } from './openDirectories.js'
import { readChunksReusing } from './readChunks.js'
import { sweepTempFiles, tempPathFor } from './tempFiles.js'
import { writerThread } from './writerThread.js'

export { type CheckpointFs, settledAll, writeFileAtomicAfter } from './checkpointFs.js'
export { fsyncDir, type PinnedFile } from './fdOps.js'
export { tempPathFor } from './tempFiles.js'

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

/** Writes `data` to the open descriptor and fsyncs it, then closes it (also on failure). */
async function writeDurably(fd: number, data: string | Uint8Array, path: string): Promise<void> {
  try {
    await writeAllFd(fd, data)
    await fsyncFd(fd)
  } catch (error) {
    await closeFd(fd).catch(() => undefined)
    throw namingPath(error, path)
  }
  await closeFd(fd)
}

/** Creates `path` ('wx'); a missing directory is created (durably) and the open tried once more. */
async function openNew(path: string): Promise<number> {
  try {
    return await openFd(path, 'wx')
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
  }
  await mkdirp(dirname(path))
  return openFd(path, 'wx')
}

/** Node's errors of write() and fsync() (ENOSPC, EIO) name no file: add it, keeping `code`. */
function namingPath(error: unknown, path: string): unknown {
  if (error instanceof Error && !error.message.includes(path)) error.message = `${error.message} (writing ${path})`
  return error
}

const removeQuietly = (path: string): Promise<void> => fsp.rm(path, { force: true }).catch(() => undefined)

function writeFileAtomic(path: string, data: string | Uint8Array, beforeReplace?: () => Promise<void>): Promise<void> {
  return writeAtomicSyncing(path, data, beforeReplace, fsyncDir)
}

async function writeAtomicSyncing(path: string, data: string | Uint8Array, beforeReplace: (() => Promise<void>) | undefined, syncDir: (dir: string) => Promise<void>): Promise<void> {
  const dir = dirname(path)
  const temp = tempPathFor(path)
  // The directory nearly always exists: opening first saves a call per write, and only a miss creates it.
  const fd = await openNew(temp)
  try {
    await writeDurably(fd, data, path)
    if (beforeReplace !== undefined) await beforeReplace()
    await renamePath(temp, path)
  } catch (error) {
    // A failed write (ENOSPC, EIO) should not leave litter; a real crash still may, which readdir hides.
    await removeQuietly(temp)
    throw error
  }
  await syncDir(dir)
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
  await writeDurably(await openFd(path, 'a'), data, path)
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
  await renamePath(from, to)
  await fsyncDir(dirname(to))
  if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from))
}

/** File systems without hard links (FAT, some network mounts) answer link() with one of these. */
const LINK_UNSUPPORTED = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']

async function createWithOpenExclusive(path: string, data: string | Uint8Array): Promise<boolean> {
  let fd: number
  try {
    fd = await openFd(path, 'wx')
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await writeDurably(fd, data, path)
  } catch (error) {
    // An empty or partial file would block everyone until judged stale; better not to leave it.
    await removeQuietly(path)
    throw error
  }
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
    await writeDurably(await openFd(temp, 'wx'), data, path)
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

/** Over `this` (nodeFs, or an object spread from it): only nodeFs's own atomic write can keep directories open. */
function withOpenDirectories(this: CheckpointFs): CheckpointFs & { close(): Promise<void> } {
  const base = this
  const dirs = new OpenDirectories()
  return {
    ...base,
    withOpenDirectories: undefined,
    writeFileAtomic:
      base.writeFileAtomic === writeFileAtomic
        ? (path, data, beforeReplace) => writeAtomicSyncing(path, data, beforeReplace, (dir) => dirs.fsync(dir))
        : base.writeFileAtomic,
    remove: async (path) => (await dirs.forget(path), base.remove(path)),
    renameDurable: async (from, to) => (await Promise.all([dirs.forget(from), dirs.forget(to)]), base.renameDurable(from, to)),
    close: () => dirs.close(),
  }
}

/**
 * Over `this`, as `withOpenDirectories`: nodeFs's own atomic writes go to the writer thread, except those with a
 * `beforeReplace` check, which runs on this thread just before the rename.
 */
function withWriterThread(this: CheckpointFs): CheckpointFs & { close(): Promise<void> } {
  const view = withOpenDirectories.call(this)
  if (this.writeFileAtomic !== writeFileAtomic) return { ...view, withWriterThread: undefined }
  // The thread starts while the checkpoint is read (a restart's restore), not at the first batch's first write.
  writerThread.prepare()
  // The thread's own promise is returned as is: a later write ordered after it waits for it inside the thread.
  const write = (path: string, data: string | Uint8Array, after: readonly Promise<unknown>[]) =>
    writerThread.write(path, tempPathFor(path), typeof data === 'string' ? Buffer.from(data, 'utf8') : data, after)
  return {
    ...view,
    withWriterThread: undefined,
    writeFileAtomic: (path, data, beforeReplace) => (beforeReplace === undefined ? write(path, data, []) : view.writeFileAtomic(path, data, beforeReplace)),
    writeFileAtomicAfter: write,
  }
}

/**
 * {@link CheckpointFs} on `node:fs`, with real fsync of files and directories.
 * @example
 * await nodeFs.writeFileAtomic('/tmp/ckpt/metadata', 'v1\n…')
 * (await nodeFs.readFile('/tmp/ckpt/metadata')).toString('utf8')
 * @throws the Node errors of the underlying calls, `code` preserved ('ENOENT', 'ENOSPC', 'EIO', 'EACCES', …).
 */
export const nodeFs: CheckpointFs = {
  // The callback form: the same calls as fs/promises' readFile without a FileHandle per read (see fdOps.ts).
  readFile: (path) => new Promise((resolve, reject) => readFileCallback(path, (error, bytes) => (error ? reject(error) : resolve(bytes)))),
  readChunks: (path) => readChunksReusing(path, 1 << 20),
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
  withOpenDirectories,
  withWriterThread,
  // On Windows an open file blocks the atomic rename over it (the lock's heartbeat): there the lock reads its file.
  pinFile: process.platform === 'win32' ? undefined : pinPath,
}
