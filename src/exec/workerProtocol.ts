/**
 * The messages between a query's main thread and the worker threads that run its tasks. Only control and progress
 * cross threads; rows never do (each worker reads its tasks' source partitions itself).
 */
import type { StreamingQueryProgress } from './progress.js'
import type { StreamingQuery } from './streamingQuery.js'

/** Where a worker finds the query: the module URL and the name of the export made with `defineQuery`. */
export interface QueryModuleRef {
  readonly module: string
  readonly exportName: string
  /** The parameters `start` was given, passed on to every worker's `build`. */
  readonly params: unknown
}

/** The session settings a worker's session is created with (plain data: they cross the thread boundary). */
export interface WorkerSessionOptions {
  readonly shufflePartitions: number
  readonly numRecentProgressUpdates: number
  readonly snapshotInterval: number
  readonly minBatchesToRetain: number
  readonly stateDeltas: 'patches' | 'whole'
}

/** What a worker is started with. */
export interface WorkerData {
  readonly definedIn: QueryModuleRef
  readonly tasks: readonly number[]
  readonly session: WorkerSessionOptions
}

/** An error as it crosses the thread boundary. */
export interface ErrorText {
  readonly name: string
  readonly code: string | undefined
  readonly message: string
}

export type ToWorker = { readonly type: 'processAllAvailable'; readonly seq: number } | { readonly type: 'stop' }

export type FromWorker =
  | { readonly type: 'started'; readonly id: string }
  | { readonly type: 'failedToStart'; readonly error: ErrorText }
  | { readonly type: 'progress'; readonly task: number; readonly progress: StreamingQueryProgress }
  | { readonly type: 'drained'; readonly seq: number; readonly error?: ErrorText }
  | { readonly type: 'terminated'; readonly error?: ErrorText }

/** The brand `defineQuery` puts on what it returns, so a worker can tell a query export from anything else. */
export const DEFINED_QUERY = Symbol.for('structured-rx.definedQuery')

/** What a worker needs of a `defineQuery` export: start the given tasks in a session of its own. */
export interface DefinedQueryHandle {
  readonly [DEFINED_QUERY]: true
  startTasks(tasks: readonly number[], session: WorkerSessionOptions, params: unknown): Promise<StreamingQuery>
}

/**
 * An error as plain data.
 * @example port.postMessage({ type: 'terminated', error: errorText(e) })
 * @throws never.
 */
export function errorText(e: unknown): ErrorText {
  const err = e instanceof Error ? e : new Error(String(e))
  return { name: err.name, code: (err as { code?: unknown }).code as string | undefined, message: err.message }
}
