import { InvalidQueryError } from '../errors.js'

/**
 * The V8 heap limits of each worker thread that runs a query's tasks (`writeStream({ parallelism, workerResourceLimits })`),
 * as Node's `ResourceLimits` of a `Worker`: sizes in MiB. A field left out keeps its default.
 * @example writeStream({ outputMode: 'append', sink, checkpointLocation, parallelism: 2, workerResourceLimits: { maxYoungGenerationSizeMb: 96 } })
 */
export interface WorkerResourceLimits {
  /**
   * The young generation, where new objects are allocated and most die: V8 splits it in three (two semi-spaces and
   * room for objects promoted). A larger one lets the rows of a batch die before a scavenge copies them.
   */
  readonly maxYoungGenerationSizeMb?: number
  /** The old generation: past it the worker fails with an out-of-memory error (and the query with it). */
  readonly maxOldGenerationSizeMb?: number
  /** The space reserved for compiled code. */
  readonly codeRangeSizeMb?: number
  /** The thread's stack. */
  readonly stackSizeMb?: number
}

/**
 * What every worker thread gets unless `workerResourceLimits` says otherwise: a young generation of 96 MiB (32 MiB
 * semi-spaces, V8's default for a 64-bit process being 16 MiB), measured on the parse-heavy scaling benchmark to
 * halve the scavenges of a worker (see docs/scaling.md).
 * @example writeStream({ outputMode: 'append', sink, parallelism: 2, workerResourceLimits: { ...WORKER_RESOURCE_LIMITS, maxOldGenerationSizeMb: 4096 } })
 */
export const WORKER_RESOURCE_LIMITS: Readonly<Required<Pick<WorkerResourceLimits, 'maxYoungGenerationSizeMb'>>> = Object.freeze({
  maxYoungGenerationSizeMb: 96,
})

const FIELDS: readonly (keyof WorkerResourceLimits)[] = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb']

/**
 * The resource limits the query's workers start with: the defaults overridden by `limits`, checked first.
 * @example const limits = workerResourceLimits({ workerResourceLimits: { maxOldGenerationSizeMb: 2048 }, parallelism: 2 })
 * @throws InvalidQueryError for `workerResourceLimits` without worker threads (parallelism 1), a field that is not
 * one of the four, or a size that is not a positive finite number (each named).
 */
export function workerResourceLimits(def: { readonly workerResourceLimits?: WorkerResourceLimits; readonly parallelism?: number }): WorkerResourceLimits {
  const limits = def.workerResourceLimits
  if (limits === undefined) return { ...WORKER_RESOURCE_LIMITS }
  if ((def.parallelism ?? 1) === 1) {
    throw new InvalidQueryError('writeStream: workerResourceLimits sizes the heaps of worker threads; the query runs none (parallelism is 1)')
  }
  if (typeof limits !== 'object' || limits === null) {
    throw new InvalidQueryError(`writeStream: workerResourceLimits must be an object of sizes in MiB, got ${limits === null ? 'null' : typeof limits}`)
  }
  for (const [field, value] of Object.entries(limits)) {
    if (!FIELDS.includes(field as keyof WorkerResourceLimits)) {
      throw new InvalidQueryError(`writeStream: workerResourceLimits has no field '${field}' (fields: ${FIELDS.join(', ')})`)
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidQueryError(`writeStream: workerResourceLimits.${field} must be a positive number of MiB, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
    }
  }
  return { ...WORKER_RESOURCE_LIMITS, ...limits }
}
