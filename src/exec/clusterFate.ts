/**
 * How a cluster member reads the end of one of its tasks: a task that failed while its member still held its lease
 * failed (and fails the member); one whose lease was lost meanwhile is lost (its successor carries on); one that
 * stopped because the coordinator did not answer was interrupted (its lease is given back and it is taken again).
 */
import type { Coordinator, Lease } from '../durable/lease.js'
import { CoordinatorUnavailableError, FencedError } from '../errors.js'

/**
 * What became of a task that ended with an error or after its lease was found lost.
 * @example const fate: TaskFate = 'interrupted'
 */
export type TaskFate = 'failed' | 'lost' | 'interrupted'

/**
 * The fate of a task that ended with `error` (or, without one, was lost): lost when the member knew its lease was
 * lost, when a fenced change was refused, or when the coordinator no longer finds the lease held at its epoch (the
 * error then came from losing it: paused mid-batch or mid-recovery, the member read a checkpoint its successor
 * changed); interrupted when the error is the coordinator's not answering (a fenced change could not be checked);
 * failed otherwise.
 * @example if ((await taskFate(coordinator, lease, false, q.exception)) === 'failed') member.fail(q.exception)
 * @throws never: a `holds` that cannot be answered counts as not held.
 */
export async function taskFate(coordinator: Pick<Coordinator, 'holds'>, lease: Lease, lost: boolean, error: unknown): Promise<TaskFate> {
  if (lost || isFenced(error)) return 'lost'
  if (causedBy(error, CoordinatorUnavailableError)) return 'interrupted'
  return (await coordinator.holds(lease.task, lease.member, lease.epoch).catch(() => false)) ? 'failed' : 'lost'
}

/**
 * Whether an error (or one it was caused by) is a refused commit of a member that lost its lease.
 * @example if (isFenced(query.exception)) console.log('lease lost')
 * @throws never.
 */
export function isFenced(e: unknown): boolean {
  return causedBy(e, FencedError)
}

function causedBy(e: unknown, type: new (...args: never[]) => Error): boolean {
  for (let cause = e, depth = 0; cause !== undefined && cause !== null && depth < 10; depth++) {
    if (cause instanceof type) return true
    cause = (cause as { cause?: unknown }).cause
  }
  return false
}
