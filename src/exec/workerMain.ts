/**
 * The entry of a worker thread: imports the query's module, starts its share of the tasks and answers the main
 * thread's `processAllAvailable` and `stop`. Progress goes back as messages; rows stay in this thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { QueryModuleError } from '../errors.js'
import type { StreamingQuery } from './streamingQuery.js'
import { TasksQuery } from './tasksQuery.js'
import { DEFINED_QUERY, type DefinedQueryHandle, errorText, type FromWorker, type ToWorker, type WorkerData } from './workerProtocol.js'

const port = parentPort!
const data = workerData as WorkerData
const send = (message: FromWorker): void => port.postMessage(message)

async function load(): Promise<DefinedQueryHandle> {
  const { module, exportName } = data.definedIn
  let exports: Record<string, unknown>
  try {
    exports = (await import(module)) as Record<string, unknown>
  } catch (e) {
    throw new QueryModuleError(`cannot import the query module ${module}: ${errorText(e).message}`, { cause: e })
  }
  const value = exports[exportName] as Partial<DefinedQueryHandle> | undefined
  if (value?.[DEFINED_QUERY] !== true) {
    throw new QueryModuleError(
      `${module} has no export '${exportName}' made with defineQuery (found ${value === undefined ? 'nothing' : typeof value}): ` +
        `export const ${exportName} = defineQuery(import.meta.url, '${exportName}', (session) => …)`,
    )
  }
  return value as DefinedQueryHandle
}

async function main(): Promise<void> {
  let query: TasksQuery
  try {
    const started: StreamingQuery = await (await load()).startTasks(data.tasks, data.session, data.definedIn.params)
    if (!(started instanceof TasksQuery)) throw new Error(`the query's tasks ${data.tasks.join(', ')} did not start as tasks`)
    query = started
  } catch (e) {
    send({ type: 'failedToStart', error: errorText(e) })
    return
  }
  // Each task's progress goes to the main thread with the task it belongs to.
  query.tasks.forEach((task, i) => task.progress$.subscribe((progress) => send({ type: 'progress', task: query.taskIndices[i]!, progress })))
  send({ type: 'started', id: query.id })
  port.on('message', (message: ToWorker) => {
    if (message.type === 'processAllAvailable') {
      query.processAllAvailable().then(
        () => send({ type: 'drained', seq: message.seq }),
        (e: unknown) => send({ type: 'drained', seq: message.seq, error: errorText(e) }),
      )
    } else void query.stop()
  })
  await query.awaitTermination().catch(() => undefined)
  send({ type: 'terminated', error: query.exception === undefined ? undefined : errorText(query.exception) })
  port.close()
}

void main()
