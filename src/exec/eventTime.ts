import { OperatorFailure } from '../errors.js'
import { safeJson } from '../util/text.js'

/**
 * Reads a row's event time through a user function, blaming `operator` when the function throws or returns
 * something other than finite epoch milliseconds.
 */
export function readEventTime(timeOf: (row: unknown) => unknown, row: unknown, operator: string): number {
  let time: unknown
  try {
    time = timeOf(row)
  } catch (e) {
    throw new OperatorFailure(operator, e)
  }
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new OperatorFailure(operator, new TypeError(`event time must be a finite number of epoch ms, got ${safeJson(time)}`))
  }
  return time
}
