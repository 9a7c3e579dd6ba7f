/** Deterministic benchmark input: the same rows on every run and every machine, built before any timing starts. */

/** A benchmark input row: a string grouping key and an integer value. */
export interface Row {
  readonly key: string
  readonly v: number
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). Enough for benchmark inputs; not for anything else. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * `count` rows whose keys are drawn uniformly from `keys` distinct strings (`key-0` … `key-<keys-1>`) and whose
 * values are integers in [0, 1000).
 * @example generateRows({ count: 1_000_000, keys: 1_000, seed: 42 })
 */
export function generateRows(options: { count: number; keys: number; seed: number }): Row[] {
  const random = mulberry32(options.seed)
  const keys = Array.from({ length: options.keys }, (_, i) => `key-${i}`)
  const rows: Row[] = new Array(options.count)
  for (let i = 0; i < options.count; i++) {
    rows[i] = { key: keys[Math.floor(random() * options.keys)]!, v: Math.floor(random() * 1000) }
  }
  return rows
}

/** Splits rows into consecutive chunks of `size` (the micro-batches). */
export function chunks<T>(rows: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}
