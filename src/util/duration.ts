/** Durations as users write them: a number of milliseconds, or text such as `'10 seconds'` or `'1h'`. */

const UNITS: Record<string, number> = {
  ms: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
}

/**
 * Parses `1000`, `'10 seconds'`, `'5 minutes'`, `'1h'` into milliseconds; `what` names the option in errors.
 * @example parseDuration('5 minutes', 'trigger.processingTime') // 300000
 * @throws RangeError naming `what` for a negative number or text it cannot read.
 */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what}: expected a non-negative duration, got ${value}`)
    return value
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value)
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) {
    throw new RangeError(`${what}: cannot read duration '${value}' (try '10 seconds', '5 minutes' or a number of ms)`)
  }
  return Number(m[1]) * unit
}
