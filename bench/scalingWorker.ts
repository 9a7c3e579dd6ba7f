/**
 * The one-worker baseline of the scaling benchmark: runs the windowed count with `parallelism: 1` on a worker thread,
 * so that the baseline's tasks run in an isolate set up like each of the library's workers (same resource limits,
 * same kind of thread, the same runtime helper threads beside it) and not on the benchmark's long-lived main thread.
 * The thread is driven by messages: `drain` → `drained` once everything available is processed, `stop` → it stops
 * the query and exits.
 */
import { isMainThread, parentPort, type ResourceLimits, Worker, workerData } from 'node:worker_threads'
import { errorText } from '../src/exec/workerProtocol.js'
import { windowedCounts, type WindowedCountsParams } from '../test/scale/fixtures/windowedCounts.js'

/** The query of the benchmark on one worker thread, as the parent sees it. */
export interface OneWorker {
  /** Processes everything available to the query's tasks. */
  drain(): Promise<void>
  /** Stops the query and waits for the thread to exit. */
  stop(): Promise<void>
}

type Reply = { readonly type: 'started' | 'drained' | 'stopped' } | { readonly type: 'failed'; readonly message: string }

/**
 * Starts the query on a new worker thread with `resourceLimits` (what the library gives its own workers) and
 * resolves once its tasks have started.
 * @example const worker = await startOnOneWorker(params, WORKER_RESOURCE_LIMITS); await worker.drain(); await worker.stop()
 * @throws Error when the query fails to start, a drain fails, or the thread exits early.
 */
export async function startOnOneWorker(params: Omit<WindowedCountsParams, 'parallelism'>, resourceLimits: ResourceLimits): Promise<OneWorker> {
  if (import.meta.url.endsWith('.ts')) throw new Error('the scaling benchmark runs compiled: npm run bench')
  const worker = new Worker(new URL(import.meta.url), { workerData: { ...params, parallelism: 1 }, resourceLimits })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const reply = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the benchmark worker exited'))
      worker.once('exit', onExit)
      worker.once('message', (m: Reply) => {
        worker.off('exit', onExit)
        if (m.type === 'failed') reject(new Error(`the benchmark worker failed: ${m.message}`))
        else resolve()
      })
    })
  await reply()
  return {
    drain() {
      const done = reply()
      worker.postMessage('drain')
      return done
    },
    async stop() {
      worker.postMessage('stop')
      await exited
    },
  }
}

if (!isMainThread && (workerData as Partial<WindowedCountsParams> | undefined)?.input !== undefined) {
  const port = parentPort!
  const send = (m: Reply) => port.postMessage(m)
  try {
    const query = await windowedCounts.start(workerData as WindowedCountsParams)
    port.on('message', (m: 'drain' | 'stop') => {
      if (m === 'drain') {
        query.processAllAvailable().then(
          () => send({ type: 'drained' }),
          (e: unknown) => send({ type: 'failed', message: errorText(e).message }),
        )
      } else void query.stop().finally(() => port.close())
    })
    send({ type: 'started' })
  } catch (e) {
    send({ type: 'failed', message: errorText(e).message })
    port.close()
  }
}
