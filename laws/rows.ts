/**
 * How the laws compare result rows: by a canonical text in which equal values always read the same, and result
 * tables by the identity a sink upserts on (`key` and `window`).
 */

/**
 * Canonical text of a value: JSON with object keys sorted and undefined fields left out, as state and sinks persist
 * it (so -0 reads as 0), except that NaN and ±Infinity are spelled out instead of becoming `null`.
 * @example canonical({ b: 1, a: [NaN] }) // '{"a":[NaN],"b":1}'
 */
export function canonical(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : String(value)
    case 'bigint':
      return `${value}n`
    case 'undefined':
      return 'undefined'
    case 'function':
    case 'symbol':
      return String(value)
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
  }
  if (value === null) return 'null'
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return canonical(toJSON.call(value))
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  const record = value as Record<string, unknown>
  const fields = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort()
  return `{${fields.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`
}

/**
 * The identity a result row is upserted by in update and complete mode: canonical `[key, window]`, or undefined
 * for a row without a `key` (such rows are never merged).
 * @example identityOf({ key: 'a', window: { start: 0, end: 10 }, count: 2 }) // '["a",{"end":10,"start":0}]'
 */
export function identityOf(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null || !('key' in row)) return undefined
  const { key, window } = row as { key: unknown; window?: unknown }
  return canonical([key, window ?? null])
}

/**
 * Folds emitted rows into a result table: a later row replaces an earlier one of the same identity; rows without
 * identity are all kept.
 * @example upsertByIdentity([{ key: 'a', count: 1 }, { key: 'a', count: 2 }]) // [{ key: 'a', count: 2 }]
 */
export function upsertByIdentity<R>(rows: readonly R[]): R[] {
  const table = new Map<string, R>()
  const keyless: R[] = []
  for (const row of rows) {
    const id = identityOf(row)
    if (id === undefined) keyless.push(row)
    else table.set(id, row)
  }
  return [...table.values(), ...keyless]
}

/**
 * Rows in a canonical order: by identity, then by their canonical text, so two tables compare as multisets.
 * @example sortByIdentity([{ key: 'b' }, { key: 'a' }]) // [{ key: 'a' }, { key: 'b' }]
 */
export function sortByIdentity<R>(rows: readonly R[]): R[] {
  const sortKey = (row: R) => `${identityOf(row) ?? ''}\u0000${canonical(row)}`
  return rows
    .map((row) => ({ row, at: sortKey(row) }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .map(({ row }) => row)
}
