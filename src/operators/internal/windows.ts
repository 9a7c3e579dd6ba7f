import type { Window } from '../../plan/nodes.js'

/**
 * The event-time windows a timestamp falls in, aligned to the epoch as in Spark: tumbling when `slideMs === sizeMs`,
 * sliding otherwise (every window `[start, start + size)` with `start` a multiple of `slide` that contains `time`).
 */
export function windowsOf(time: number, sizeMs: number, slideMs: number): Window[] {
  const lastStart = lastWindowStart(time, slideMs)
  const out: Window[] = []
  for (let start = lastStart; start > time - sizeMs; start -= slideMs) out.unshift({ start, end: start + sizeMs })
  return out
}

/**
 * The start of the latest window `time` falls in: the largest multiple of `slideMs` at or below it.
 * @example lastWindowStart(12_345, 10_000) // 10_000; lastWindowStart(-1, 10_000) // -10_000
 * @throws never.
 */
export function lastWindowStart(time: number, slideMs: number): number {
  return time - (((time % slideMs) + slideMs) % slideMs)
}
