import { parseDuration } from '../util/duration.js'

/**
 * When micro-batches run.
 * @example const every10s: Trigger = trigger.processingTime('10 seconds') // { kind: 'processingTime', intervalMs: 10000 }
 */
export type Trigger =
  | { readonly kind: 'processingTime'; readonly intervalMs: number }
  | { readonly kind: 'once' }
  | { readonly kind: 'availableNow' }

/**
 * Triggers, as in Spark: `processingTime(interval)` starts a batch every interval (0, the default: as soon as the
 * previous one ends and data is there); `once()` runs one batch of everything available, then stops;
 * `availableNow()` drains what is available at start in rate-limited batches, then stops.
 * @example trigger.processingTime('10 seconds')
 */
export const trigger = {
  processingTime(interval: number | string): Trigger {
    return { kind: 'processingTime', intervalMs: parseDuration(interval, 'trigger.processingTime') }
  },
  once(): Trigger {
    return { kind: 'once' }
  },
  availableNow(): Trigger {
    return { kind: 'availableNow' }
  },
} as const
