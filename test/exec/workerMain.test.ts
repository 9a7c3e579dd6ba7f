/**
 * The worker thread's entry (workerMain) run in this process: node:worker_threads is replaced by a port the test
 * reads and writes, so each message the entry sends and answers is an explicit event. The query module is
 * test/exec/fixtures/workerQuery.ts, whose tasks the test ends by hand.
 */
import { pathToFileURL } from 'node:url'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StreamingQueryError } from '../../src/errors.js'
import type { FromWorker, ToWorker, WorkerData } from '../../src/exec/workerProtocol.js'
import type { WorkerQueryControl } from './fixtures/workerQuery.js'

const h = vi.hoisted(() => {
  const state = {
    /** The worker data: one object, filled anew by each test (the mocked module is made once). */
    data: {} as Record<string, unknown>,
    sent: [] as unknown[],
    closed: false,
    listeners: [] as ((message: unknown) => void)[],
    waiters: [] as (() => void)[],
  }
  const port = {
    postMessage(message: unknown) {
      state.sent.push(message)
      for (const w of state.waiters.splice(0)) w()
    },
    on(type: string, listener: (message: unknown) => void) {
      if (type === 'message') state.listeners.push(listener)
    },
    close() {
      state.closed = true
    },
  }
  return { state, port }
})

vi.mock('node:worker_threads', () => ({ parentPort: h.port, workerData: h.state.data }))

const moduleUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'workerQuery.ts')).href
const session = { shufflePartitions: 4 }

let control: WorkerQueryControl
beforeEach(() => {
  control = { mode: 'tasks', calls: [], tasks: [] }
  ;(globalThis as { __workerQuery?: WorkerQueryControl }).__workerQuery = control
  Object.assign(h.state, { sent: [], closed: false, listeners: [], waiters: [] })
  vi.resetModules()
})
afterEach(() => {
  delete (globalThis as { __workerQuery?: WorkerQueryControl }).__workerQuery
})

/** Runs the entry with this worker data. */
async function startWorker(module: string, exportName: string, tasks: number[] = [0, 2], params: unknown = { p: 1 }): Promise<void> {
  const data: WorkerData = { definedIn: { module, exportName, params }, tasks, session } as unknown as WorkerData
  Object.assign(h.state.data, data)
  await import('../../src/exec/workerMain.js')
}

/** Resolves once `n` messages in all were sent. */
async function sent(n: number): Promise<FromWorker[]> {
  while (h.state.sent.length < n) await new Promise<void>((resolve) => h.state.waiters.push(resolve))
  return h.state.sent as FromWorker[]
}

const tell = (message: ToWorker) => h.state.listeners.forEach((l) => l(message))

describe('workerMain', () => {
  it('starts the tasks, forwards each task\'s progress, answers processAllAvailable and stop, then closes', async () => {
    await startWorker(moduleUrl, 'query')
    expect(await sent(1)).toEqual([{ type: 'started', id: 'task-0' }])
    expect(control.calls).toEqual([{ tasks: [0, 2], session, params: { p: 1 } }])
    const progress = { batchId: 3 }
    control.tasks[1]!.progress$.next(progress as never)
    expect((await sent(2))[1]).toEqual({ type: 'progress', task: 2, progress })
    tell({ type: 'processAllAvailable', seq: 7 })
    expect((await sent(3))[2]).toEqual({ type: 'drained', seq: 7 })
    control.tasks[0]!.drainError = Object.assign(new Error('cannot read'), { code: 'EIO' })
    tell({ type: 'processAllAvailable', seq: 8 })
    expect((await sent(4))[3]).toEqual({ type: 'drained', seq: 8, error: { name: 'Error', code: 'EIO', message: 'cannot read' } })
    expect(h.state.closed).toBe(false)
    tell({ type: 'stop' })
    expect((await sent(5))[4]).toEqual({ type: 'terminated', error: undefined })
    expect(control.tasks.map((t) => t.isActive)).toEqual([false, false])
    expect(h.state.closed).toBe(true)
  })

  it('reports the error of a task that failed when the query ends', async () => {
    await startWorker(moduleUrl, 'query', [1])
    await sent(1)
    control.tasks[0]!.end(new StreamingQueryError('task 1 broke', undefined, undefined, undefined))
    const last = (await sent(2))[1]
    expect(last).toMatchObject({ type: 'terminated', error: { name: 'StreamingQueryError' } })
    expect((last as { error: { message: string } }).error.message).toContain('task 1 broke')
    expect(h.state.closed).toBe(true)
  })

  it('fails to start, naming the module, when the module cannot be imported', async () => {
    const missing = pathToFileURL('/nonexistent/srx-query.js').href
    await startWorker(missing, 'query')
    const [message] = await sent(1)
    expect(message).toMatchObject({ type: 'failedToStart', error: { name: 'QueryModuleError', code: 'SRX_QUERY_MODULE' } })
    expect((message as { error: { message: string } }).error.message).toMatch(new RegExp(`^cannot import the query module ${missing}: `))
  })

  it('fails to start when the export is missing or not made with defineQuery, saying what to export', async () => {
    await startWorker(moduleUrl, 'nope')
    expect(await sent(1)).toEqual([
      {
        type: 'failedToStart',
        error: {
          name: 'QueryModuleError',
          code: 'SRX_QUERY_MODULE',
          message: `${moduleUrl} has no export 'nope' made with defineQuery (found nothing): export const nope = defineQuery(import.meta.url, 'nope', (session) => …)`,
        },
      },
    ])
    Object.assign(h.state, { sent: [] })
    vi.resetModules()
    await startWorker(moduleUrl, 'notAQuery')
    expect((await sent(1))[0]).toMatchObject({ error: { message: expect.stringContaining("has no export 'notAQuery' made with defineQuery (found number)") } })
  })

  it('fails to start when the tasks do not start, or do not start as tasks', async () => {
    control.mode = 'throws'
    await startWorker(moduleUrl, 'query')
    expect(await sent(1)).toEqual([{ type: 'failedToStart', error: { name: 'Error', code: undefined, message: 'the source is gone' } }])
    Object.assign(h.state, { sent: [] })
    vi.resetModules()
    control.mode = 'notTasks'
    await startWorker(moduleUrl, 'query', [0, 3])
    expect(await sent(1)).toEqual([{ type: 'failedToStart', error: { name: 'Error', code: undefined, message: "the query's tasks 0, 3 did not start as tasks" } }])
  })
})
