/**
 * Atomic writes done by a thread of their own. Each step of an atomic write (open, write, fsync, close, rename,
 * fsync of the directory) is one trip to libuv's pool whose completion the calling thread must handle before the
 * next step starts. A query's thread computes a micro-batch in one synchronous stretch of several milliseconds, and
 * during it no step of a checkpoint write moved: the offsets of batch N + 1 and the commit of batch N only got going
 * once the batch had computed, and the sink waited for both (see docs/performance.md). Here the whole write is one
 * message out and one back, and a write may wait inside the thread for earlier writes (a commit for its state files)
 * without the query's thread in between.
 */
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'
import { settledAll } from './checkpointFs.js'

/**
 * The thread's code, plain JavaScript with Node built-ins only: it runs as given whether the library is used
 * compiled or from TypeScript sources, with nothing to resolve or transpile in the thread. The cheap steps are
 * synchronous calls (no pool trip, no wake-up); the fsyncs go to the pool, so several writes' fsyncs run side by
 * side as they did on the main thread (the file system commits them together). A job whose file is durable answers
 * `{ id }`; one that failed answers `{ id, error }` and leaves no temp file behind.
 */
const THREAD_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const { dirname } = require('node:path')
const running = new Map()
const failed = new Set()
const DIR_SYNC_UNSUPPORTED = ['EINVAL', 'EBADF', 'EPERM', 'EISDIR']
const fsync = (fd) => new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())))
async function syncDir(dir) {
  let fd
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY)
  } catch (e) {
    if (e.code === 'EISDIR' || e.code === 'EPERM') return
    throw e
  }
  try {
    await fsync(fd)
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.includes(e.code)) throw e
  } finally {
    fs.closeSync(fd)
  }
}
async function makeDirectory(dir) {
  const first = fs.mkdirSync(dir, { recursive: true })
  if (first === undefined) return
  // Each directory created is an entry of its parent: sync those parents so the whole chain survives a crash.
  const parents = []
  for (let d = dir; ; d = dirname(d)) {
    parents.unshift(dirname(d))
    if (d === first || dirname(d) === d) break
  }
  for (const parent of parents) await syncDir(parent)
}
function openNew(temp) {
  return fs.openSync(temp, 'wx')
}
async function write(job) {
  let fd
  try {
    fd = openNew(job.temp)
  } catch (e) {
    // The directory nearly always exists: only a miss creates it.
    if (e.code !== 'ENOENT') throw e
    await makeDirectory(dirname(job.path))
    fd = openNew(job.temp)
  }
  try {
    try {
      let offset = 0
      while (offset < job.bytes.length) offset += fs.writeSync(fd, job.bytes, offset, job.bytes.length - offset)
      await fsync(fd)
    } finally {
      fs.closeSync(fd)
    }
    for (const id of job.after) {
      await running.get(id)
      if (failed.has(id)) throw Object.assign(new Error('a write it had to follow failed'), { code: 'ECANCELED' })
    }
    fs.renameSync(job.temp, job.path)
  } catch (e) {
    try { fs.unlinkSync(job.temp) } catch {}
    throw e
  }
  await syncDir(dirname(job.path))
}
parentPort.on('message', (job) => {
  const done = write(job).then(
    () => parentPort.postMessage({ id: job.id }),
    (e) => {
      failed.add(job.id)
      const message = String(e && e.message)
      const named = message.includes(job.path) ? message : message + ' (writing ' + job.path + ')'
      parentPort.postMessage({ id: job.id, error: { message: named, code: e && e.code } })
    },
  ).finally(() => running.delete(job.id))
  running.set(job.id, done)
})
`

interface Job {
  readonly id: number
  readonly path: string
  readonly temp: string
  readonly bytes: Uint8Array
  readonly after: readonly number[]
}

interface Answer {
  readonly id: number
  readonly error?: { readonly message: string; readonly code?: string }
}

interface Waiting {
  resolve(): void
  reject(error: Error): void
}

/**
 * The process's writer thread, started at the first write and kept unreferenced while no write is in flight (it never
 * keeps a process alive). If the thread dies, the writes in flight fail and the next write starts a new one.
 * @example
 * const state = writerThread.write('/ckpt/state/count/3.delta', '/ckpt/state/count/.3.delta.42.a1.tmp', bytes)
 * await writerThread.write('/ckpt/commits/3', '/ckpt/commits/.3.42.a2.tmp', commitBytes, [state])
 */
export class WriterThread {
  private worker: Worker | undefined
  private nextId = 0
  private readonly waiting = new Map<number, Waiting>()
  /** The job of each promise `write` returned, while it is in flight: later writes may follow it inside the thread. */
  private readonly jobOf = new WeakMap<Promise<void>, number>()

  /**
   * Writes `bytes` to `temp` (creating its directory durably if missing), fsyncs it, and once every promise of `after`
   * has resolved renames it over `path` and fsyncs the directory. A promise of `after` that this thread's `write` returned and is still in flight is waited
   * for inside the thread; any other is awaited here first.
   * @throws (rejects) the Node error of a step, `code` preserved ('EEXIST', 'ENOTDIR', 'ENOSPC', 'EIO', …), naming
   * `path`; the reason of the first promise of `after` that rejected, with nothing written.
   */
  write(path: string, temp: string, bytes: Uint8Array, after: readonly Promise<unknown>[] = []): Promise<void> {
    const inThread: number[] = []
    const elsewhere: Promise<unknown>[] = []
    for (const promise of after) {
      const id = this.jobOf.get(promise as Promise<void>)
      if (id !== undefined && this.waiting.has(id)) inThread.push(id)
      else elsewhere.push(promise)
    }
    // A promise settled or made elsewhere is waited for here; only then is the job posted.
    if (elsewhere.length > 0) return settledAll(after).then(() => this.post(path, temp, bytes, []).done)
    const { id, done } = this.post(path, temp, bytes, inThread)
    // What the caller sees fails with the reason of what it waited for, not with the thread's "cancelled".
    const result = inThread.length === 0 ? done : settledAll([...after, done])
    this.jobOf.set(result, id)
    return result
  }

  /**
   * Starts the thread now if it is not running, so that a checkpoint opened under its lock does not wait for the
   * thread to come online at its first write (tens to hundreds of milliseconds of start-up, on the path of a restart's
   * first batch otherwise). It stays unreferenced: it keeps no process alive.
   * @example writerThread.prepare()
   * @throws never (a thread that fails to start fails the writes posted to it).
   */
  prepare(): void {
    this.started()
  }

  private post(path: string, temp: string, bytes: Uint8Array, after: readonly number[]): { id: number; done: Promise<void> } {
    const worker = this.started()
    const id = this.nextId++
    const job: Job = { id, path, temp, bytes, after }
    const done = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }))
    worker.ref()
    worker.postMessage(job)
    return { id, done }
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = withoutMemoryReducer(() => new Worker(THREAD_SOURCE, { eval: true }))
    worker.unref()
    worker.on('message', (answer: Answer) => this.answered(answer))
    const lost = (error: Error) => {
      if (this.worker !== worker) return
      this.worker = undefined
      for (const [, waiting] of this.waiting) waiting.reject(error)
      this.waiting.clear()
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the checkpoint writer thread exited (code ${code}) with writes in flight`)))
    this.worker = worker
    return worker
  }

  private answered({ id, error }: Answer): void {
    const waiting = this.waiting.get(id)
    if (waiting === undefined) return
    this.waiting.delete(id)
    if (this.waiting.size === 0) this.worker?.unref()
    if (error === undefined) return waiting.resolve()
    waiting.reject(Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code }))
  }
}

/**
 * Creates a worker whose isolate has no memory reducer. The reducer shrinks an isolate's heap once its allocation
 * stops: for this thread, whose heap is little more than Node's own start-up objects (about 4 MB), that is one full
 * collection of about 25 ms of CPU some 8 seconds after it started, which lands in the first seconds of an idle
 * query. V8 reads the flag when it sets up an isolate's heap, so it is off only until the worker is online and the
 * main isolate keeps its reducer. A process started with its own `memory-reducer` setting is left as it is.
 */
function withoutMemoryReducer(create: () => Worker): Worker {
  const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) => arg.includes('memory-reducer') || arg.includes('memory_reducer'))
  if (chosen) return create()
  v8.setFlagsFromString('--no-memory-reducer')
  let worker: Worker
  try {
    worker = create()
  } catch (error) {
    v8.setFlagsFromString('--memory-reducer')
    throw error
  }
  let restored = false
  const restore = () => {
    if (!restored) v8.setFlagsFromString('--memory-reducer')
    restored = true
  }
  worker.once('online', restore)
  worker.once('error', restore)
  worker.once('exit', restore)
  return worker
}

/** The writer thread of this process (one for every checkpoint: its writes are independent jobs). */
export const writerThread = new WriterThread()
