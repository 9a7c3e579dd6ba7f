/**
 * util/ — small pure helpers every layer may use (key identity, durations, JSON and error text, io-ts error
 * descriptions). Like `errors.ts` beside it, it imports nothing else of the engine.
 */
/**
 * Key identity: a state key is identified by its codec-encoded form, so the same key maps to the same id (and the
 * same partition) on every run and every machine, whatever object identity or property order it had.
 */

/**
 * JSON with object keys sorted, so equal values always give equal text. `toJSON` is honoured (a Date reads as its
 * ISO string), and the numbers JSON cannot hold are spelled out (`NaN`, `Infinity`, `-Infinity`), so distinct
 * values never share a text.
 */
export function stableStringify(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return stableStringify((value as { toJSON(): unknown }).toJSON())
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`
}

/**
 * The id of an encoded key. Plain strings are their own id (the common case, and allocation-free); anything else,
 * and any string starting with NUL, becomes NUL + stable JSON. A JSON text of a non-string never starts with `"`,
 * and the JSON of a string always does, so no two distinct encoded keys share an id.
 */
export function keyIdOf(encoded: unknown): string {
  if (typeof encoded === 'string' && encoded.charCodeAt(0) !== 0) return encoded
  return '\u0000' + stableStringify(encoded)
}

/** The id of a key within one event-time window. */
export function windowedId(keyId: string, window: { readonly start: number; readonly end?: number }): string {
  return `${keyId}\u0001${window.start}`
}

/** 32-bit FNV-1a over UTF-16 code units: stable across runs, machines and Node versions. */
export function stableHash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The shuffle partition of a key id. */
export function partitionOf(id: string, partitions: number): number {
  return stableHash(id) % partitions
}
