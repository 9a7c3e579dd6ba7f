import type { Observable } from 'rxjs'
import { type Operator, withPlan } from '../plan/nodes.js'
import { parseDuration } from '../util/duration.js'

/**
 * Declares the event time of rows and how late they may arrive. Between micro-batches the watermark advances to
 * (max event time seen) − `delay`; stateful operators after it drop rows behind the watermark (counted as
 * `numRowsDroppedByWatermark`), append mode emits a window once the watermark passes its end, and state below the
 * watermark is evicted. In the RxJS reference semantics it passes rows through unchanged (in-order data is never late).
 * @example stream.pipe(withWatermark((r) => r.ts, '10 minutes'))
 * @throws RangeError when `delay` is not a duration.
 */
export function withWatermark<T>(timeOf: (row: T) => number, delay: number | string): Operator<T, T> {
  // A function of its own: the plan node is attached to it, so it must not be shared (as rxjs' identity is).
  return withPlan((rows: Observable<T>) => rows, {
    kind: 'withWatermark',
    timeOf: timeOf as (row: never) => unknown,
    delayMs: parseDuration(delay, 'withWatermark delay'),
  })
}
