/** JSON values as the engine persists them (offsets, log entries). */

/**
 * A source offset: a JSON value. Re-reading the same offset range must yield the same rows.
 * @example const offset: Offset = { file: 3, line: 10 }
 */
export type Offset = null | boolean | number | string | Offset[] | { [key: string]: Offset }
