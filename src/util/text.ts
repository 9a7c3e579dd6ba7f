/**
 * Turning arbitrary values into text for error messages and size estimates, without ever throwing: a cyclic
 * object, a BigInt or an `undefined` still gives something readable.
 */

/**
 * The message of a thrown value: `Error.message`, or the value as a string.
 * @example errorText(new Error('disk full')) // 'disk full'
 * @throws never.
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * JSON text of a value when it has one, else `String(value)`.
 * @example safeJson({ a: 1 }) // '{"a":1}'; safeJson(undefined) // 'undefined'
 * @throws never.
 */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
