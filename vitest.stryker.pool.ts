import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { PoolOptions, PoolRunnerInitializer, PoolWorker, WorkerRequest } from 'vitest/node'

/**
 * vitest's thread pool, but the worker thread outlives a run. Stryker's vitest runner calls vitest's `start()` once
 * per mutant; vitest keeps a non-isolated worker only while more test files of the same run are queued, so every
 * mutant started a new thread that imported the libraries (rxjs, io-ts, fast-check, pg, ...) again — most of a
 * mutant's time. Here the thread stays: the next run's worker is told to start again (its config, and with it the
 * test-name filter, is refreshed) and finds the libraries it already imported.
 *
 * The project's own modules (src, test, laws) are evaluated again in every run, so no module state a mutant left (a
 * cache, a registry) reaches the next mutant's run; re-evaluating them cost little when measured (0.40 s against
 * 0.32 s a run of three test files), a new thread a lot (3.3-4 s). Mutants are switched at run time
 * (`globalThis.__stryker__.activeMutant`, set before each run by Stryker's setup file); static mutants are ignored
 * (`ignoreStatic` in stryker.config.mjs).
 *
 * A thread still running tests when vitest stops it (a cancelled run) is terminated as before, and the next run
 * starts a new one. Used by vitest.stryker.config.ts only.
 */
let kept: Worker | undefined
let busy = false
const trackBusy = (message: { type?: string }): void => {
  if (message?.type === 'testfileFinished') busy = false
}

class KeptThreadsPoolWorker implements PoolWorker {
  readonly name = keptThreadsPool.name
  private thread: Worker | undefined

  constructor(private readonly options: PoolOptions) {}

  on(event: string, callback: (arg: any) => void): void {
    this.current().on(event, callback)
  }

  off(event: string, callback: (arg: any) => void): void {
    this.current().off(event, callback)
  }

  deserialize(data: unknown): unknown {
    return data
  }

  async start(): Promise<void> {
    if (kept === undefined) {
      // The entry point of vitest's own thread pool.
      kept = new Worker(join(this.options.distPath, 'workers/threads.js'), {
        env: this.options.env,
        execArgv: this.options.execArgv,
      })
      kept.on('message', trackBusy)
    }
    this.thread = kept
  }

  send(message: WorkerRequest): void {
    const thread = this.current()
    if (message.type === 'stop' && !busy) {
      // Answer for the worker, which would tear itself down: the thread and its imported libraries stay.
      queueMicrotask(() => thread.emit('message', { type: 'stopped', __vitest_worker_response__: true }))
      return
    }
    if (message.type === 'run' || message.type === 'collect') {
      busy = true
      message.context.invalidates = [...(message.context.invalidates ?? []), ...ownFiles(this.options.project.config.root)]
    }
    thread.postMessage(message)
  }

  async stop(): Promise<void> {
    const thread = this.thread
    this.thread = undefined
    if (thread === undefined) return
    if (thread === kept && !busy) {
      // Detach this runner's listeners; the thread's own busy tracking stays.
      for (const event of ['error', 'exit', 'message'] as const) {
        for (const listener of thread.listeners(event)) {
          if (listener !== trackBusy) thread.off(event, listener as (...args: unknown[]) => void)
        }
      }
      return
    }
    if (thread === kept) kept = undefined
    busy = false
    await thread.terminate()
  }

  private current(): Worker {
    if (this.thread === undefined) throw new Error('kept-threads pool: the worker is not started')
    return this.thread
  }
}

let listed: string[] | undefined
/** Every .ts file of src, test and laws: the modules evaluated again in each run. */
function ownFiles(root: string): string[] {
  listed ??= ['src', 'test', 'laws'].flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(root, dir, name)))
  return listed
}

/** Ends the kept thread; vitest.stryker.config.ts calls it when vitest closes. */
export async function endKeptThread(): Promise<void> {
  const thread = kept
  kept = undefined
  busy = false
  await thread?.terminate()
}

/** The pool for vitest's `pool` option (set by a plugin in vitest.stryker.config.ts, over Stryker's `threads`). */
export const keptThreadsPool: PoolRunnerInitializer = {
  name: 'kept-threads',
  createPoolWorker: (options) => new KeptThreadsPoolWorker(options),
}
