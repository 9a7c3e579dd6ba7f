/**
 * The writer thread's life and its job queue, on a `WriterThread` of the test's own: a thread that dies fails the
 * writes in flight and the next write starts a new one; a write ordered after one still in the thread is posted at
 * once, naming it, while one ordered after anything else is posted only once that has settled.
 *
 * The thread itself is private: the tests reach it (to end it, or to see the jobs posted to it) through the one
 * `worker` field, typed below, and leave everything else to the real thread.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { WriterThread } from '../../src/durable/writerThread.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

/** The thread a WriterThread runs now, if any. */
const workerOf = (thread: WriterThread): Worker | undefined => (thread as unknown as { worker: Worker | undefined }).worker

/** A promise settled from outside. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((res) => (resolve = res))
  return { promise, resolve }
}

/** Records the jobs posted to the running thread (id, path and the jobs each waits for), still posting them. */
function postedJobs(worker: Worker): { id: number; path: string; after: number[] }[] {
  const posted: { id: number; path: string; after: number[] }[] = []
  const post = worker.postMessage.bind(worker)
  worker.postMessage = (job: { id: number; path: string; after: number[] }) => {
    posted.push({ id: job.id, path: job.path, after: [...job.after] })
    post(job)
  }
  return posted
}

const bytes = (text: string) => Buffer.from(text, 'utf8')

describe('WriterThread when its thread dies', () => {
  const dir = useTempDir()

  it('rejects the writes in flight naming the exit, and starts a new thread for the next write', async () => {
    const thread = new WriterThread()
    const path = join(dir(), 'offsets', '0')
    // The thread is still starting when it is ended: neither write can have been done.
    const first = thread.write(path, join(dir(), 'offsets', '.0.a.tmp'), bytes('o0'))
    const second = thread.write(join(dir(), 'commits', '0'), join(dir(), 'commits', '.0.a.tmp'), bytes('c0'), [first])
    const failures = Promise.all([rejectionOf(first), rejectionOf(second)])
    const dead = workerOf(thread)!
    const code = await dead.terminate()
    const [firstError, secondError] = await failures
    expect(firstError).toBeInstanceOf(Error)
    expect((firstError as Error).message).toBe(`the checkpoint writer thread exited (code ${code}) with writes in flight`)
    expect(secondError).toBe(firstError)
    expect(await rejectionOf(readFile(path))).toMatchObject({ code: 'ENOENT' })
    await thread.write(path, join(dir(), 'offsets', '.0.b.tmp'), bytes('o0 again'))
    expect(workerOf(thread)).not.toBe(dead)
    expect(await readFile(path, 'utf8')).toBe('o0 again')
    await workerOf(thread)!.terminate()
  })

  it('fails no write when it dies idle, and the next write starts a new thread', async () => {
    const thread = new WriterThread()
    const path = join(dir(), 'metadata')
    await thread.write(path, join(dir(), '.metadata.a.tmp'), bytes('m1'))
    const dead = workerOf(thread)!
    await dead.terminate()
    await thread.write(path, join(dir(), '.metadata.b.tmp'), bytes('m2'))
    expect(workerOf(thread)).not.toBe(dead)
    expect(await readFile(path, 'utf8')).toBe('m2')
    await workerOf(thread)!.terminate()
  })
})

describe('WriterThread posting its jobs', () => {
  const dir = useTempDir()

  it('posts a write and one ordered after it at once, the second naming the first', async () => {
    const thread = new WriterThread()
    thread.prepare()
    const posted = postedJobs(workerOf(thread)!)
    const state = join(dir(), 'state', '0.delta')
    const commit = join(dir(), 'commits', '0')
    const written = thread.write(state, join(dir(), 'state', '.0.delta.a.tmp'), bytes('delta'))
    const committed = thread.write(commit, join(dir(), 'commits', '.0.a.tmp'), bytes('c0'), [written])
    expect(posted).toEqual([
      { id: 0, path: state, after: [] },
      { id: 1, path: commit, after: [0] },
    ])
    await committed
    await written
    expect([await readFile(state, 'utf8'), await readFile(commit, 'utf8')]).toEqual(['delta', 'c0'])
    await workerOf(thread)!.terminate()
  })

  it('posts a write ordered after a promise of elsewhere, or after a write already done, only once that has settled', async () => {
    const thread = new WriterThread()
    thread.prepare()
    const posted = postedJobs(workerOf(thread)!)
    const first = join(dir(), 'a')
    const done = thread.write(first, join(dir(), '.a.tmp'), bytes('a'))
    await done
    const gate = deferred()
    const second = join(dir(), 'b')
    const written = thread.write(second, join(dir(), '.b.tmp'), bytes('b'), [gate.promise, done])
    // Nothing of the second write is in the thread while the gate is shut.
    await Promise.resolve()
    expect(posted).toEqual([{ id: 0, path: first, after: [] }])
    gate.resolve()
    await written
    expect(posted).toEqual([
      { id: 0, path: first, after: [] },
      { id: 1, path: second, after: [] },
    ])
    expect(await readFile(second, 'utf8')).toBe('b')
    // Ordered after a write of this thread that is already done: nothing to wait for inside the thread.
    const third = join(dir(), 'c')
    const last = thread.write(third, join(dir(), '.c.tmp'), bytes('c'), [done])
    expect(posted).toHaveLength(2)
    await last
    expect(posted[2]).toEqual({ id: 2, path: third, after: [] })
    expect(await readFile(third, 'utf8')).toBe('c')
    await workerOf(thread)!.terminate()
  })
})
