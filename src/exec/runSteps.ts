import type { BatchContext, StatefulExec } from './batch.js'
import { readEventTime } from './eventTime.js'
import type { Step } from './instantiate.js'

/** Event-time statistics of one batch's rows at the watermark. */
export interface EventTimeStats {
  min: number
  max: number
  sum: number
  count: number
}

/**
 * Runs the steps of the running plan over one micro-batch: stateless runs as one fused loop each, the watermark
 * step records event-time statistics, each stateful operator folds its input into state and returns its output.
 */
export function runSteps(
  steps: readonly Step[],
  input: unknown[],
  ctx: BatchContext,
): { output: unknown[]; eventTime: EventTimeStats | undefined; operatorTimesMs: Map<StatefulExec, number> } {
  let rows = input
  let eventTime: EventTimeStats | undefined
  const operatorTimesMs = new Map<StatefulExec, number>()
  for (const step of steps) {
    switch (step.kind) {
      case 'stateless':
        rows = step.run(rows)
        break
      case 'watermark':
        eventTime = eventTimeStats(rows, step.timeOf, step.label)
        break
      case 'stateful': {
        const started = performance.now()
        rows = step.exec.run(rows, ctx)
        operatorTimesMs.set(step.exec, performance.now() - started)
        break
      }
    }
  }
  return { output: rows, eventTime, operatorTimesMs }
}

function eventTimeStats(rows: unknown[], timeOf: (row: unknown) => unknown, label: string): EventTimeStats | undefined {
  if (rows.length === 0) return undefined
  const stats: EventTimeStats = { min: Infinity, max: -Infinity, sum: 0, count: 0 }
  for (const row of rows) {
    const time = readEventTime(timeOf, row, label)
    if (time < stats.min) stats.min = time
    if (time > stats.max) stats.max = time
    stats.sum += time
    stats.count++
  }
  return stats
}
