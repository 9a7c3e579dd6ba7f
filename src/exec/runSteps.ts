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

/** What a micro-batch's steps produced. */
export interface BatchResult {
  readonly output: unknown[]
  readonly eventTime: EventTimeStats | undefined
  readonly operatorTimesMs: Map<StatefulExec, number>
}

/**
 * Runs the steps of the running plan over one micro-batch whose rows arrive in blocks, as a source parses them: each
 * block goes through the steps up to the first stateful operator (the fused stateless loops, the watermark's
 * event-time statistics, the operator's fold) as soon as it is added, so its rows can be collected before the next
 * block is read. `finish` then lets that operator emit and runs the steps after it over its output. The result is
 * the same whatever the blocks: rows keep their order, the watermark and the operators' output are decided per
 * batch, and the statistics are summed row by row in order.
 * @example const fold = new BatchFold(steps, ctx); fold.add(rows); const { output } = fold.finish()
 * @throws the first failure of a step (an `OperatorFailure` naming the operator), from `add` or `finish`.
 */
export class BatchFold {
  /** The index of the first stateful step, or the number of steps when there is none. */
  private readonly split: number
  private readonly operatorTimesMs = new Map<StatefulExec, number>()
  private eventTime: EventTimeStats | undefined
  /** The output of a plan without stateful steps, block after block. */
  private output: unknown[] | undefined
  /** The error a step threw, so the caller can tell it from a failure of the source that was adding blocks. */
  failure: { error: unknown } | undefined

  constructor(
    private readonly steps: readonly Step[],
    private readonly ctx: BatchContext,
  ) {
    const first = steps.findIndex((s) => s.kind === 'stateful')
    this.split = first === -1 ? steps.length : first
    const step = steps[this.split]
    if (step?.kind === 'stateful') this.timed(step.exec, () => step.exec.begin(ctx))
  }

  /** Runs the next block of the batch's rows (in order) through the steps up to the first stateful operator. */
  add(block: unknown[]): void {
    try {
      let rows = block
      for (let i = 0; i < this.split; i++) {
        const step = this.steps[i]!
        if (step.kind === 'stateless') rows = step.run(rows)
        // A plan has at most one watermark: its statistics run over all the batch's blocks.
        else if (step.kind === 'watermark') this.eventTime = eventTimeStats(this.eventTime, rows, step.timeOf, step.label)
      }
      const step = this.steps[this.split]
      if (step?.kind === 'stateful') this.timed(step.exec, () => step.exec.add(rows))
      else if (this.output === undefined) this.output = rows === block ? rows.slice() : rows
      else for (let i = 0; i < rows.length; i++) this.output.push(rows[i])
    } catch (error) {
      this.failure ??= { error }
      throw error
    }
  }

  /** Ends the batch: the first stateful operator emits, and the steps after it run over its output. */
  finish(): BatchResult {
    try {
      const step = this.steps[this.split]
      if (step?.kind !== 'stateful') return { output: this.output ?? [], eventTime: this.eventTime, operatorTimesMs: this.operatorTimesMs }
      let rows = this.timed(step.exec, () => step.exec.finish(this.ctx))
      for (let i = this.split + 1; i < this.steps.length; i++) {
        const next = this.steps[i]!
        switch (next.kind) {
          case 'stateless':
            rows = next.run(rows)
            break
          case 'watermark':
            this.eventTime = eventTimeStats(undefined, rows, next.timeOf, next.label)
            break
          case 'stateful': {
            const exec = next.exec
            rows = this.timed(exec, () => exec.run(rows, this.ctx))
            break
          }
        }
      }
      return { output: rows, eventTime: this.eventTime, operatorTimesMs: this.operatorTimesMs }
    } catch (error) {
      this.failure ??= { error }
      throw error
    }
  }

  /** Runs `work` of `exec`, adding its time to the operator's time of this batch. */
  private timed<R>(exec: StatefulExec, work: () => R): R {
    const started = performance.now()
    try {
      return work()
    } finally {
      this.operatorTimesMs.set(exec, (this.operatorTimesMs.get(exec) ?? 0) + performance.now() - started)
    }
  }
}

/** Adds the event times of `rows` to `stats` (new statistics when undefined); undefined while no row was seen. */
function eventTimeStats(
  stats: EventTimeStats | undefined,
  rows: unknown[],
  timeOf: (row: unknown) => unknown,
  label: string,
): EventTimeStats | undefined {
  if (rows.length === 0) return stats
  const s = stats ?? { min: Infinity, max: -Infinity, sum: 0, count: 0 }
  for (const row of rows) {
    const time = readEventTime(timeOf, row, label)
    if (time < s.min) s.min = time
    if (time > s.max) s.max = time
    s.sum += time
    s.count++
  }
  return s
}
