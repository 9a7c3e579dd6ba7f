/** Checks of numeric options as users pass them. */

/**
 * `value`, or `fallback` when it is undefined; `name` names the option of `createSession` in the error.
 * @example positiveInteger('shufflePartitions', options.shufflePartitions, 8)
 * @throws RangeError when the value is not a positive integer.
 */
export function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`createSession: ${name} must be a positive integer, got ${value}`)
  }
  return value
}
