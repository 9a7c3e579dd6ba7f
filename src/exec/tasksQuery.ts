import { merge, type Observable } from 'rxjs'
import type { StreamingQueryError } from '../errors.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import { aggregateOf, type ScaleOutStatus, taskStatus } from './scaleOutView.js'
import type { StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'
import { settledWithin } from './withTimeout.js'

/**
 * The handle of a query that runs as tasks: one `StreamingQuery` per task, seen as one query. It is active while any
 * task is; the first task that fails stops the others and its error becomes the query's. Progress is per task (each
 * task's progress names it, `<name>[task p]`); `lastProgress` is the latest of any task.
 */
export class TasksQuery implements StreamingQuery {
  readonly progress$: Observable<StreamingQueryProgress>
  private failure: StreamingQueryError | undefined

  constructor(
    readonly name: string | undefined,
    readonly runId: string,
    /** The running tasks, in the order of `taskIndices`. */
    readonly tasks: readonly StreamingQuery[],
    readonly taskIndices: readonly number[],
    readonly partitions: number,
  ) {
    this.progress$ = merge(...tasks.map((t) => t.progress$))
    for (const t of tasks) if (!t.isActive) this.taskEnded(t)
  }

  /** The id of the first task: stable across restarts, as every task's id is kept in its checkpoint. */
  /** The tasks' trigger (every task runs the same one). */
  get trigger(): Trigger {
    return this.tasks[0]!.trigger
  }

  get id(): string {
    return this.tasks[0]!.id
  }

  get status(): StreamingQueryStatus {
    const active = this.tasks.filter((t) => t.isActive)
    return {
      message: `${active.length} of ${this.tasks.length} tasks active`,
      isDataAvailable: active.some((t) => t.status.isDataAvailable),
      isTriggerActive: active.some((t) => t.status.isTriggerActive),
    }
  }

  get lastProgress(): StreamingQueryProgress | undefined {
    return this.recentProgress.at(-1)
  }

  /** Every task's recent progress, oldest first. */
  get recentProgress(): readonly StreamingQueryProgress[] {
    return this.tasks.flatMap((t) => t.recentProgress).sort((a, b) => a.timestamp.localeCompare(b.timestamp))
  }

  /** The tasks of this process, each with its last progress, and their sum. */
  get scaleOut(): ScaleOutStatus {
    const last = new Map(this.tasks.flatMap((t, i) => (t.lastProgress === undefined ? [] : [[this.taskIndices[i]!, t.lastProgress] as const])))
    return {
      tasks: this.partitions,
      taskStatus: this.tasks.map((t, i) => taskStatus(this.taskIndices[i]!, 'local', undefined, t.lastProgress)),
      aggregate: aggregateOf(last),
    }
  }

  get isActive(): boolean {
    return this.tasks.some((t) => t.isActive)
  }

  get exception(): StreamingQueryError | undefined {
    return this.failure
  }

  /** @internal A task terminated: if it failed, the query fails and the other tasks stop. */
  taskEnded(task: StreamingQuery): void {
    if (task.exception === undefined || this.failure !== undefined) return
    this.failure = task.exception
    void this.stop()
  }

  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop()))
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    const all = Promise.allSettled(this.tasks.map((t) => t.awaitTermination())).then(() => {
      if (this.failure !== undefined) throw this.failure
    })
    return settledWithin(all, timeoutMs)
  }

  async processAllAvailable(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.processAllAvailable()))
  }

  explain(print = true): string {
    const text = `Runs as ${this.partitions} tasks (${this.tasks.length} here: ${this.taskIndices.join(', ')}); each task:\n` +
      this.tasks[0]!.explain(false)
    if (print) console.log(text)
    return text
  }
}
