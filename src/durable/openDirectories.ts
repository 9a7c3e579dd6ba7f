/**
 * Directory descriptors kept open between fsyncs, for a writer that owns its directories for a while (a checkpoint
 * under its lock). An atomic write ends with an fsync of its directory; opening and closing the directory around
 * each one is two of the eight thread-pool trips of an atomic write, and a checkpoint makes three per micro-batch
 * into the same few directories.
 */
import { resolve, sep } from 'node:path'
import { closeFd, fsyncDir, openDirFd, syncDirFd } from './fdOps.js'

interface OpenDirectory {
  readonly fd: Promise<number | undefined>
  /** The fsyncs issued on it, so that closing waits for them. */
  pending: Promise<unknown>
  closed: boolean
}

/**
 * The open directories of one owner. Only for directories nobody else removes or renames while they are open: one
 * replaced behind its back would keep being synced through its old descriptor. The owner's own removals and renames
 * go through {@link OpenDirectories.forget} first.
 * @example
 * const dirs = new OpenDirectories()
 * await dirs.fsync('/ckpt/offsets') // opens it once; later fsyncs reuse the descriptor
 * await dirs.close()
 */
export class OpenDirectories {
  private readonly open = new Map<string, OpenDirectory>()
  private closed = false

  /**
   * Makes `dir`'s entries durable, through its kept descriptor (opened on first use); after `close`, the way
   * `fsyncDir` does.
   * @throws the Node error of opening or syncing it, as `fsyncDir`.
   */
  async fsync(dir: string): Promise<void> {
    const key = resolve(dir)
    let entry = this.open.get(key)
    if (entry === undefined) {
      if (this.closed) return fsyncDir(dir)
      const opened: OpenDirectory = { fd: openDirFd(key), pending: Promise.resolve(), closed: false }
      // A directory that failed to open is tried again next time, not remembered.
      opened.fd.catch(() => this.open.get(key) === opened && this.open.delete(key))
      this.open.set(key, (entry = opened))
    }
    const fd = await entry.fd
    if (fd === undefined) return
    // Checked in the same tick as the fsync starts: a descriptor being closed is never synced (its number may be reused).
    if (entry.closed) return fsyncDir(dir)
    const synced = syncDirFd(fd)
    entry.pending = Promise.allSettled([entry.pending, synced])
    await synced
  }

  /** Closes the descriptors of `path` and of every directory under it (before the owner removes or renames it). */
  async forget(path: string): Promise<void> {
    const key = resolve(path)
    const gone = [...this.open.keys()].filter((dir) => dir === key || dir.startsWith(key + sep))
    await Promise.all(gone.map((dir) => this.drop(dir)))
  }

  /** Closes every descriptor, once the fsyncs issued on them have settled; later fsyncs open and close as usual. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.open.keys()].map((dir) => this.drop(dir)))
  }

  private async drop(dir: string): Promise<void> {
    const entry = this.open.get(dir)
    if (entry === undefined) return
    this.open.delete(dir)
    entry.closed = true
    const fd = await entry.fd.catch(() => undefined)
    await entry.pending
    if (fd !== undefined) await closeFd(fd)
  }
}
