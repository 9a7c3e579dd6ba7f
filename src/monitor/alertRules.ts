import type { StreamingQueryProgress } from '../exec/progress.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import { parseDuration } from '../util/duration.js'

/**
 * What a rule concludes about one query after an event: firing (with why), clear, or no change (`undefined`).
 * @example const verdict: RuleVerdict = progress.numInputRows === 0 ? { firing: true, message: 'no input', details: { batchId: progress.batchId } } : { firing: false }
 */
export type RuleVerdict =
  | { readonly firing: true; readonly message: string; readonly details: Readonly<Record<string, unknown>> }
  | { readonly firing: false }
  | undefined

/**
 * One rule's view of one run of one query; every method is optional and must be cheap.
 * @example const watcher: RuleWatcher = { terminated: (exception) => (exception ? { firing: true, message: exception, details: {} } : { firing: false }) }
 */
export interface RuleWatcher {
  /** A completed micro-batch (idle progress updates are reported as `idle`). */
  batch?(progress: StreamingQueryProgress): RuleVerdict
  /** The query had no new data on a trigger. */
  idle?(): RuleVerdict
  /** Called every `tickMs` while the query runs. */
  tick?(nowMs: number): RuleVerdict
  /** The query terminated, with the message of its error if it failed. */
  terminated?(exception: string | undefined): RuleVerdict
}

/**
 * An alert rule: `watch` gives a fresh watcher for each run of each query; the alerting turns its verdicts into
 * alerts that fire once per episode and resolve. Write your own by returning this shape.
 * @example const noOutput: AlertRule = { name: 'noOutput', watch: () => ({ batch: (p) => p.sink.numOutputRows === 0 ? { firing: true, message: 'no output', details: {} } : { firing: false } }) }
 */
export interface AlertRule {
  readonly name: string
  /** How often `tick` wants to be called, in ms (rules without `tick` leave it out). */
  readonly tickMs?: number
  watch(query: StreamingQuery): RuleWatcher
}

const clear = { firing: false } as const

/**
 * Fires when a query's input rate has been above its processing rate for `batches` consecutive batches (data arrives
 * faster than the query processes it, so its backlog grows); resolves at the first batch that keeps up, or when idle.
 * @example alerting(session, { rules: [fallingBehind({ batches: 3 })] })
 * @throws RangeError when batches is not a positive integer.
 */
export function fallingBehind(options: { readonly batches?: number } = {}): AlertRule {
  const batches = positiveInteger(options.batches ?? 3, 'fallingBehind: batches')
  return {
    name: 'fallingBehind',
    watch() {
      let streak = 0
      return {
        batch(p) {
          // The first batch of a run has no previous trigger, so no input rate: it says nothing either way.
          if (p.numInputRows === 0 || p.inputRowsPerSecond === 0) return p.numInputRows === 0 ? ((streak = 0), clear) : undefined
          if (p.inputRowsPerSecond <= p.processedRowsPerSecond) return (streak = 0), clear
          streak++
          if (streak < batches) return undefined
          return {
            firing: true,
            message: `input ${rate(p.inputRowsPerSecond)} rows/s above processing ${rate(p.processedRowsPerSecond)} rows/s for ${streak} batches`,
            details: { batchId: p.batchId, inputRowsPerSecond: p.inputRowsPerSecond, processedRowsPerSecond: p.processedRowsPerSecond, batches: streak },
          }
        },
        idle: () => ((streak = 0), clear),
      }
    },
  }
}

/**
 * Fires when a query has had data to process, or a trigger running, for `after` without completing a batch or going
 * idle (a hung source, sink or user function); an idle query is never stalled. Resolves at its next batch or idle
 * trigger.
 * @example stalled({ after: '2 minutes' })
 * @throws RangeError when `after` is not a positive duration.
 */
export function stalled(options: { readonly after: number | string }): AlertRule {
  const afterMs = parseDuration(options.after, 'stalled: after')
  if (afterMs <= 0) throw new RangeError(`stalled: after must be positive, got ${String(options.after)}`)
  return {
    name: 'stalled',
    tickMs: Math.min(1000, Math.max(20, afterMs / 4)),
    watch(query) {
      let lastActivity = Date.now()
      let busySince: number | undefined
      const active = () => ((lastActivity = Date.now()), (busySince = undefined), clear)
      return {
        batch: active,
        idle: active,
        tick(now) {
          const { isDataAvailable, isTriggerActive } = query.status
          if (!isDataAvailable && !isTriggerActive) return (busySince = undefined), clear
          // Busy must be seen on two ticks `after` apart: one sample of a short idle poll is not a stall.
          busySince ??= now
          const busyFor = now - Math.max(busySince, lastActivity)
          if (busyFor < afterMs) return undefined
          return {
            firing: true,
            message: `no batch completed for ${Math.round((now - lastActivity) / 1000)} s while ${query.status.message}`,
            details: { status: query.status, lastProgress: query.lastProgress?.timestamp ?? null, afterMs },
          }
        },
      }
    },
  }
}

/**
 * Fires when a batch takes longer than `over` (default: the query's processing-time trigger interval; a query with
 * neither is not judged); resolves at the next batch within the bound.
 * @example slowBatch({ over: '30 seconds' })
 * @throws RangeError when `over` is not a positive duration.
 */
export function slowBatch(options: { readonly over?: number | string } = {}): AlertRule {
  const overMs = options.over === undefined ? undefined : parseDuration(options.over, 'slowBatch: over')
  if (overMs !== undefined && overMs <= 0) throw new RangeError(`slowBatch: over must be positive, got ${String(options.over)}`)
  return {
    name: 'slowBatch',
    watch(query) {
      const t = query.trigger
      const bound = overMs ?? (t.kind === 'processingTime' && t.intervalMs > 0 ? t.intervalMs : undefined)
      if (bound === undefined) return {}
      return {
        batch(p) {
          if (p.batchDuration <= bound) return clear
          return {
            firing: true,
            message: `batch ${p.batchId} took ${p.batchDuration} ms, over ${bound} ms`,
            details: { batchId: p.batchId, batchDuration: p.batchDuration, boundMs: bound, durationMs: p.durationMs },
          }
        },
      }
    },
  }
}

/**
 * Fires when a query terminates with an error; resolves when a query with the same id starts again.
 * @example alerting(session, { rules: [queryFailed()], webhook: { url } })
 */
export function queryFailed(): AlertRule {
  return {
    name: 'queryFailed',
    watch: () => ({
      terminated: (exception) =>
        exception === undefined ? clear : { firing: true, message: `query failed: ${exception}`, details: { exception } },
    }),
  }
}

/**
 * Fires when the state rows of a query (all stateful operators together) exceed `rows`, or have grown on each of
 * `batches` consecutive batches (default 10 when neither is given); resolves when neither holds.
 * @example stateGrowth({ rows: 1_000_000 })
 * @throws RangeError when rows or batches is not a positive integer.
 */
export function stateGrowth(options: { readonly rows?: number; readonly batches?: number } = {}): AlertRule {
  const rows = options.rows === undefined ? undefined : positiveInteger(options.rows, 'stateGrowth: rows')
  const batches =
    options.batches === undefined ? (rows === undefined ? 10 : undefined) : positiveInteger(options.batches, 'stateGrowth: batches')
  return {
    name: 'stateGrowth',
    watch() {
      let previous: number | undefined
      let streak = 0
      return {
        batch(p) {
          if (p.stateOperators.length === 0) return undefined
          const total = p.stateOperators.reduce((n, s) => n + s.numRowsTotal, 0)
          streak = previous !== undefined && total > previous ? streak + 1 : 0
          previous = total
          const over = rows !== undefined && total > rows
          const growing = batches !== undefined && streak >= batches
          if (!over && !growing) return clear
          const operators = Object.fromEntries(p.stateOperators.map((s) => [s.operatorName, s.numRowsTotal]))
          return {
            firing: true,
            message: over ? `state holds ${total} rows, above ${rows}` : `state grew on each of the last ${streak} batches, to ${total} rows`,
            details: { batchId: p.batchId, stateRows: total, operators, ...(rows !== undefined ? { boundRows: rows } : {}), growingBatches: streak },
          }
        },
      }
    },
  }
}

function positiveInteger(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${n}`)
  return n
}

function rate(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1)
}
