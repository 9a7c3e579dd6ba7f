/**
 * The one comparison every law uses: append output as a multiset of rows (a restart may emit the rows of a batch in
 * another order, and so may a different cut into micro-batches), update and complete output as a table with one row
 * per identity (`key` and `window`), rows without a key as a multiset beside it. Differences read as a short list of
 * missing, extra and changed rows.
 */
import type { OutputMode } from '../src/index.js'
import { canonical, identityOf } from './rows.js'

/**
 * How two results are compared: every row in any order, or one row per `(key, window)`.
 * @example
 * const how: Comparison = comparisonFor('append') // 'multiset'
 * resultDifference(expected, actual, how) // undefined when they agree
 */
export type Comparison = 'multiset' | 'table'

/** At most this many differences are listed; the rest are counted. */
const MAX_LISTED = 12

/**
 * The comparison for a query's output mode: `append` → multiset, `update` and `complete` → table.
 * @example comparisonFor('update') // 'table'
 * @throws never.
 */
export function comparisonFor(outputMode: OutputMode): Comparison {
  return outputMode === 'append' ? 'multiset' : 'table'
}

/**
 * Where two results differ, in readable lines, or undefined when they are equal under `comparison`:
 * - `multiset`: the same rows, each as often, in any order;
 * - `table`: the same identities (`key` and `window`, see `identityOf`) with the same rows, no identity twice on
 *   either side; rows without a key are compared as a multiset.
 * Rows are equal when their canonical text is (see `canonical`).
 * @example
 * resultDifference([{ key: 'a', count: 2 }], [{ key: 'a', count: 3 }], 'table')
 * // '1 difference:\n  ~ ["a",null]: expected {"count":2,"key":"a"}, actual {"count":3,"key":"a"}'
 * @throws never.
 */
export function resultDifference(expected: readonly unknown[], actual: readonly unknown[], comparison: Comparison): string | undefined {
  const lines = comparison === 'multiset' ? multisetLines(expected, actual) : tableLines(expected, actual)
  if (lines.length === 0) return undefined
  const shown = lines.slice(0, MAX_LISTED)
  const more = lines.length > MAX_LISTED ? [`  … and ${lines.length - MAX_LISTED} more`] : []
  return [`${lines.length} difference${lines.length === 1 ? '' : 's'}:`, ...shown.map((l) => `  ${l}`), ...more].join('\n')
}

function countRows(rows: readonly unknown[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const row of rows) {
    const text = canonical(row)
    counts.set(text, (counts.get(text) ?? 0) + 1)
  }
  return counts
}

function times(n: number): string {
  return n === 1 ? '' : ` (${n}×)`
}

/** `- missing`, `+ extra` lines of a multiset comparison, in canonical order. */
function multisetLines(expected: readonly unknown[], actual: readonly unknown[]): string[] {
  const want = countRows(expected)
  const got = countRows(actual)
  const lines: string[] = []
  for (const text of [...new Set([...want.keys(), ...got.keys()])].sort()) {
    const missing = (want.get(text) ?? 0) - (got.get(text) ?? 0)
    if (missing > 0) lines.push(`- missing ${text}${times(missing)}`)
    if (missing < 0) lines.push(`+ extra   ${text}${times(-missing)}`)
  }
  return lines
}

/** Rows by identity; rows without a key go to `keyless`. */
function byIdentity(rows: readonly unknown[]): { table: Map<string, string[]>; keyless: unknown[] } {
  const table = new Map<string, string[]>()
  const keyless: unknown[] = []
  for (const row of rows) {
    const id = identityOf(row)
    if (id === undefined) keyless.push(row)
    else table.set(id, [...(table.get(id) ?? []), canonical(row)])
  }
  return { table, keyless }
}

/** `- missing`, `+ extra`, `~ changed` and `! twice` lines of a table comparison, by identity. */
function tableLines(expected: readonly unknown[], actual: readonly unknown[]): string[] {
  const want = byIdentity(expected)
  const got = byIdentity(actual)
  const lines: string[] = []
  for (const id of [...new Set([...want.table.keys(), ...got.table.keys()])].sort()) {
    const e = want.table.get(id) ?? []
    const a = got.table.get(id) ?? []
    if (e.length > 1) lines.push(`! ${id} appears ${e.length}× in the expected table: ${e.join(', ')}`)
    if (a.length > 1) lines.push(`! ${id} appears ${a.length}× in the actual table: ${a.join(', ')}`)
    if (e.length === 0) lines.push(`+ extra   ${a[0]}`)
    else if (a.length === 0) lines.push(`- missing ${e[0]}`)
    else if (e[0] !== a[0]) lines.push(`~ ${id}: expected ${e[0]}, actual ${a[0]}`)
  }
  return [...lines, ...multisetLines(want.keyless, got.keyless)]
}
