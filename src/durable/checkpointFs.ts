/**
 * The interface every file system of a checkpoint implements: what each operation must do, and how durable it is
 * once it resolves. `nodeFs` (fs.ts) and `s3Fs` implement it; fault injection and fencing wrap it.
 */
import type { PinnedFile } from './fdOps.js'

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
  /** Optional: the file in chunks, never held whole (readers fall back to readFile); a chunk is valid until the next is asked for. */
  readChunks?(path: string): AsyncIterable<Uint8Array>
  /**
   * Replaces `path` atomically: writes `.<basename>.<pid>.<random>.tmp` next to it, fsyncs it, renames it over
   * `path`, fsyncs the directory. Creates missing parent directories. Readers see the old or the new content.
   * `beforeReplace`, when given, is awaited once the data is durable and just before `path` is replaced, and nothing
   * else is awaited between the two; when it throws, `path` keeps its old content and the write rejects with that
   * error. A fenced checkpoint checks its lease there, so a writer stopped mid-write cannot replace a file once it
   * has lost its lease. Every implementation must call it (a fenced file system refuses one that did not).
   */
  writeFileAtomic(path: string, data: string | Uint8Array, beforeReplace?: () => Promise<void>): Promise<void>
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
   * Optional: opens `path` and keeps it open, so that `stillAt()` can later tell with one lstat, without reading the
   * file, whether `path` still names that same file (not removed, not replaced). The checkpoint lock checks its hold
   * this way before every commit; without it, the lock reads its file each time. Rejects with 'ENOENT' when missing.
   */
  pinFile?(path: string): Promise<PinnedFile>
  /**
   * Optional: this file system as seen by a writer that owns the directories it writes into until `close()` (a
   * checkpoint under its lock), which may keep directories open between the fsyncs of its atomic writes. Its own
   * `remove` and `renameDurable` let go of what they touch; nobody else may remove or rename those directories.
   */
  withOpenDirectories?(): CheckpointFs & { close(): Promise<void> }
  /**
   * Optional: like {@link CheckpointFs.withOpenDirectories}, for the same owner, but its atomic writes may run on a
   * thread of their own (see `writerThread.ts`), so they make progress while the caller's thread computes, and it
   * offers {@link CheckpointFs.writeFileAtomicAfter}. Where its writes cannot go to a thread, it is the
   * `withOpenDirectories` view.
   */
  withWriterThread?(): CheckpointFs & { close(): Promise<void> }
  /**
   * Optional: {@link CheckpointFs.writeFileAtomic}, except that the file appears at `path` only once every promise
   * of `after` has resolved; if one rejects, nothing appears and this rejects with the first such reason (in the
   * order given) once all have settled. The file may be written and fsynced meanwhile under its temp name. Callers
   * without it await `after` first (see {@link writeFileAtomicAfter}).
   */
  writeFileAtomicAfter?(path: string, data: string | Uint8Array, after: readonly Promise<unknown>[]): Promise<void>
  /** Optional: where `path` lives as a user would look for it (`s3://bucket/key`…), for error messages (else the path). */
  describe?(path: string): string
}

/**
 * Writes `data` atomically at `path` so that it appears only once every promise of `after` has resolved, through
 * {@link CheckpointFs.writeFileAtomicAfter} where `fs` has it, else by awaiting them first. Rejects with the first
 * reason of `after` (once all have settled) without writing anything. The write is handed to `fs` before this returns
 * when nothing of `after` must be awaited here, so a caller that goes on computing does not hold it up.
 * @example
 * const state = fs.writeFileAtomic('/ckpt/state/count/3.delta', delta)
 * await writeFileAtomicAfter(fs, '/ckpt/commits/3', commit, [state])
 * @throws the file-system error of the write; the first reason of `after`.
 */
export async function writeFileAtomicAfter(
  fs: CheckpointFs,
  path: string,
  data: string | Uint8Array,
  after: readonly Promise<unknown>[],
): Promise<void> {
  if (after.length === 0) return fs.writeFileAtomic(path, data)
  if (fs.writeFileAtomicAfter !== undefined) return fs.writeFileAtomicAfter(path, data, after)
  await settledAll(after)
  return fs.writeFileAtomic(path, data)
}

/**
 * Waits for every promise; rejects with the first one's reason (in the given order) once all have settled, so that
 * nothing is left running behind a failure.
 * @example await settledAll([stateWrite, otherStateWrite])
 * @throws the first rejection's reason.
 */
export async function settledAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r) => r.status === 'rejected')
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
}
