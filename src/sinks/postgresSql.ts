/**
 * The SQL the PostgreSQL sink sends, built from names and rows: quoted identifiers, multi-row INSERTs with
 * parameters, the upsert for update mode and the batch marker. Pure functions, no connection.
 */
import { InvalidQueryError } from '../errors.js'
import { isTransientSocketError } from '../durable/retry.js'

/** The most bind parameters one PostgreSQL statement may carry (the protocol counts them in 16 bits). */
const MAX_PARAMETERS = 65_535
/** Rows per INSERT statement at most: large enough to amortise a round trip, small enough to parse quickly. */
const MAX_ROWS_PER_STATEMENT = 2_000

/**
 * An identifier as PostgreSQL reads it literally (case kept, quotes doubled).
 * @example quoteIdent('windowStart') // '"windowStart"'
 * @throws never.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** A table name, optionally schema-qualified (`schema.table`), split and quoted. */
export interface TableName {
  readonly schema: string | undefined
  readonly table: string
  /** `"schema"."table"` or `"table"`. */
  readonly sql: string
}

/**
 * Parses `table` or `schema.table` (names with dots or quotes are not accepted: rename the table).
 * @example parseTableName('analytics.counts').sql // '"analytics"."counts"'
 * @throws InvalidQueryError when the name is empty or has more than one dot.
 */
export function parseTableName(name: string): TableName {
  const parts = name.split('.')
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new InvalidQueryError(`postgresSink: table must be 'table' or 'schema.table', got '${name}'`)
  }
  const [schema, table] = parts.length === 2 ? [parts[0], parts[1]!] : [undefined, parts[0]!]
  return { schema, table, sql: schema === undefined ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}` }
}

/** The batch-marker table beside `table` (same schema), where the sink records each batch it committed. */
export function markerTableOf(table: TableName): string {
  return table.schema === undefined ? 'structured_rx_batches' : `${quoteIdent(table.schema)}.structured_rx_batches`
}

/** DDL of the batch-marker table. */
export function markerTableDdl(markerTable: string): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${markerTable} (query_id text NOT NULL, batch_id bigint NOT NULL, ` +
    'committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (query_id, batch_id))'
  )
}

/**
 * Claims a batch for this transaction: inserts `(query_id, batch_id)` unless this batch or a later one is already
 * recorded. No row inserted means the batch was committed before. Concurrent claims of one batch serialise on the
 * primary key, so a second attempt waits for the first and then sees its row.
 */
export function claimBatchSql(markerTable: string): string {
  return (
    `INSERT INTO ${markerTable} (query_id, batch_id) SELECT $1, $2 WHERE NOT EXISTS ` +
    `(SELECT 1 FROM ${markerTable} WHERE query_id = $1 AND batch_id >= $2) ON CONFLICT DO NOTHING`
  )
}

/** How many batch markers per query are kept (older ones are pruned; a later marker already proves them done). */
export const MARKERS_KEPT = 100

/** Deletes markers of the query more than {@link MARKERS_KEPT} batches old. */
export function pruneMarkersSql(markerTable: string): string {
  return `DELETE FROM ${markerTable} WHERE query_id = $1 AND batch_id <= $2 - ${MARKERS_KEPT}`
}

/**
 * A JavaScript value as a bind parameter for `column`: objects and arrays as JSON text (for json/jsonb columns),
 * bigints as text. A function or symbol is refused, naming the column.
 */
function toParameter(value: unknown, column: string): unknown {
  if (value === undefined || value === null) return null
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value
    case 'bigint':
      return value.toString()
    case 'object':
      if (value instanceof Date || value instanceof Uint8Array) return value
      return JSON.stringify(value)
    default:
      throw new InvalidQueryError(`postgresSink: cannot store a ${typeof value} in column ${column}`)
  }
}

/** A result row as columns: a `window: { start, end }` field becomes `window_start` and `window_end`. */
export function flattenRow(row: unknown): Record<string, unknown> {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new InvalidQueryError(`postgresSink: rows must be objects (one field per column), got ${JSON.stringify(row)}`)
  }
  const record = row as Record<string, unknown>
  const window = record.window
  if (typeof window !== 'object' || window === null || !('start' in window) || !('end' in window)) return record
  const { window: w, ...rest } = record as { window: { start: unknown; end: unknown } } & Record<string, unknown>
  return { ...rest, window_start: w.start, window_end: w.end }
}

/** The columns of a batch: every field any of its rows has, in first-seen order. */
export function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const seen = new Set<string>()
  let last: Record<string, unknown> | undefined
  for (const row of rows) {
    // Rows of one batch nearly always share their shape; skip the scan when this one has the previous row's keys.
    if (last !== undefined && sameKeys(row, last)) continue
    for (const key in row) seen.add(key)
    last = row
  }
  return [...seen]
}

function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let n = 0
  for (const key in a) {
    // Own keys only: `in` also finds what every object inherits (`constructor`, `toString`), and would take a row
    // with such a field for one shaped like the row before, dropping that field's column.
    if (!Object.hasOwn(b, key)) return false
    n++
  }
  return n === Object.keys(b).length
}

/** One parameterised statement. */
export interface Statement {
  readonly text: string
  readonly values: unknown[]
}

/**
 * Multi-row INSERTs of `rows` into `table` (as many statements as the parameter limit needs), each ending with
 * `suffix` (e.g. an ON CONFLICT clause).
 */
export function insertStatements(table: string, columns: readonly string[], rows: readonly Record<string, unknown>[], suffix = ''): Statement[] {
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMETERS / columns.length)))
  const head = `INSERT INTO ${table} (${columns.map(quoteIdent).join(', ')}) VALUES `
  const statements: Statement[] = []
  // Every full chunk has the same placeholders, so its statement text is built once.
  const texts = new Map<number, string>()
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement)
    let text = texts.get(chunk.length)
    if (text === undefined) texts.set(chunk.length, (text = head + placeholders(chunk.length, columns.length) + suffix))
    const values: unknown[] = new Array(chunk.length * columns.length)
    let i = 0
    for (const row of chunk) for (const column of columns) values[i++] = toParameter(row[column], column)
    statements.push({ text, values })
  }
  return statements
}

function placeholders(rows: number, columns: number): string {
  const groups: string[] = new Array(rows)
  let n = 1
  for (let r = 0; r < rows; r++) {
    const params: string[] = new Array(columns)
    for (let c = 0; c < columns; c++) params[c] = `$${n++}`
    groups[r] = `(${params.join(', ')})`
  }
  return groups.join(', ')
}

/** `ON CONFLICT (key…) DO UPDATE SET c = EXCLUDED.c` for every non-key column (DO NOTHING when there is none). */
export function upsertSuffix(columns: readonly string[], key: readonly string[]): string {
  const rest = columns.filter((c) => !key.includes(c))
  const target = ` ON CONFLICT (${key.map(quoteIdent).join(', ')})`
  if (rest.length === 0) return `${target} DO NOTHING`
  return `${target} DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
}

/**
 * The rows of an update-mode batch with one row per key, the last one winning (as the batch's order says): one
 * INSERT … ON CONFLICT may not touch the same row twice.
 */
export function lastRowPerKey(rows: readonly Record<string, unknown>[], key: readonly string[]): Record<string, unknown>[] {
  const byKey = new Map<string, Record<string, unknown>>()
  for (const row of rows) byKey.set(JSON.stringify(key.map((k) => toParameter(row[k], k))), row)
  return byKey.size === rows.length ? [...rows] : [...byKey.values()]
}

/** SQLSTATE classes and codes of failures that go away: a lost connection, a server starting or stopping, a conflict. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01'])

/**
 * Whether a `pg` error is worth retrying: the connection failed or dropped, the server is shutting down or starting,
 * too many connections, a serialisation failure or deadlock.
 * @example isTransientPgError({ code: '57P01' }) // true: the server was shut down by an administrator
 * @throws never.
 */
export function isTransientPgError(error: unknown): boolean {
  if (isTransientSocketError(error)) return true
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && (code.startsWith('08') || TRANSIENT_SQLSTATES.has(code))) return true
  return (
    typeof message === 'string' &&
    /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/.test(
      message,
    )
  )
}
