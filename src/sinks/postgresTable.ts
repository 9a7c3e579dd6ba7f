import * as t from 'io-ts'
import { InvalidQueryError } from '../errors.js'
import type { PostgresConnection } from './postgresSink.js'
import { parseTableName, quoteIdent } from './postgresSql.js'

/**
 * Options of {@link postgresTableDdl} and {@link createPostgresTable}.
 * @example await createPostgresTable({ pool, table: 'counts', codec: t.type({ key: t.string, count: t.number }), key: ['key'] })
 */
export interface PostgresTableOptions {
  /** `table` or `schema.table`. */
  readonly table: string
  /** The io-ts codec of the result rows the sink will write (a `t.type`, `t.partial`, `t.intersection` or `t.strict`). */
  readonly codec: t.Mixed
  /** Primary-key columns: pass them for a table an update-mode sink upserts into; omit for append or complete mode. */
  readonly key?: readonly string[]
}

interface Column {
  readonly name: string
  readonly type: string
  readonly nullable: boolean
}

/** A codec's own kind, seen through refinements, brands, `readonly` and `exact` wrappers. */
type Described = { type: string; nullable: boolean }

const JSONB: Described = { type: 'jsonb', nullable: false }

function describeType(codec: t.Mixed): Described {
  const c = codec as t.Mixed & { _tag?: string; type?: t.Mixed; types?: t.Mixed[]; value?: unknown }
  if (c.name === 'Int') return { type: 'bigint', nullable: false }
  switch (c._tag) {
    case 'StringType':
    case 'KeyofType':
      return { type: 'text', nullable: false }
    case 'NumberType':
      return { type: 'double precision', nullable: false }
    case 'BigIntType':
      return { type: 'numeric', nullable: false }
    case 'BooleanType':
      return { type: 'boolean', nullable: false }
    case 'LiteralType':
      return literalType(c.value)
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
      return describeType(c.type!)
    case 'UnionType': {
      const members = c.types!.filter((m) => !isNullish(m))
      const described = members.map(describeType)
      const nullable = members.length < c.types!.length || described.some((d) => d.nullable)
      const types = new Set(described.map((d) => d.type))
      return { type: types.size === 1 ? [...types][0]! : 'jsonb', nullable }
    }
    default:
      if (isNullish(codec)) return { type: 'text', nullable: true }
      return JSONB
  }
}

function literalType(value: unknown): Described {
  if (typeof value === 'string') return { type: 'text', nullable: false }
  if (typeof value === 'number') return { type: 'double precision', nullable: false }
  if (typeof value === 'boolean') return { type: 'boolean', nullable: false }
  return { type: 'text', nullable: true }
}

function isNullish(codec: t.Mixed): boolean {
  const tag = (codec as { _tag?: string })._tag
  return tag === 'NullType' || tag === 'UndefinedType' || tag === 'VoidType'
}

/** The fields of a row codec, each marked optional when `t.partial` declares it. */
function fieldsOf(codec: t.Mixed, where: string): { name: string; codec: t.Mixed; optional: boolean }[] {
  const c = codec as t.Mixed & { _tag?: string; type?: t.Mixed; types?: t.Mixed[]; props?: Record<string, t.Mixed> }
  switch (c._tag) {
    case 'InterfaceType':
    case 'StrictType':
      return Object.entries(c.props!).map(([name, f]) => ({ name, codec: f, optional: false }))
    case 'PartialType':
      return Object.entries(c.props!).map(([name, f]) => ({ name, codec: f, optional: true }))
    case 'IntersectionType':
      return c.types!.flatMap((m) => fieldsOf(m, where))
    case 'ExactType':
    case 'ReadonlyType':
    case 'RefinementType':
      return fieldsOf(c.type!, where)
    default:
      throw new InvalidQueryError(`${where}: the row codec must be an object codec (t.type, t.partial, t.intersection), got ${c.name}`)
  }
}

function columnsOf(codec: t.Mixed, where: string): Column[] {
  const columns: Column[] = []
  for (const field of fieldsOf(codec, where)) {
    if (field.name === 'window' && isWindowCodec(field.codec)) {
      // A window is stored flat, as the sink writes it: its bounds are epoch milliseconds.
      columns.push({ name: 'window_start', type: 'bigint', nullable: field.optional })
      columns.push({ name: 'window_end', type: 'bigint', nullable: field.optional })
      continue
    }
    const d = describeType(field.codec)
    columns.push({ name: field.name, type: d.type, nullable: d.nullable || field.optional })
  }
  return columns
}

/** Whether a field's codec is an object with `start` and `end`, the shape of a window. */
function isWindowCodec(codec: t.Mixed): boolean {
  try {
    const names = fieldsOf(codec, 'window').map((f) => f.name)
    return names.includes('start') && names.includes('end')
  } catch {
    return false
  }
}

/**
 * The `CREATE TABLE IF NOT EXISTS` statement for rows of `codec`: text, double precision (bigint for `t.Int` and
 * window bounds), boolean, numeric for bigints, jsonb for objects, arrays and mixed unions; a column is nullable when
 * its field is optional or admits null/undefined. Key columns are NOT NULL and form the primary key.
 * @example
 * postgresTableDdl({ table: 'counts', codec: t.type({ key: t.string, count: t.number }), key: ['key'] })
 * // CREATE TABLE IF NOT EXISTS "counts" ("key" text NOT NULL, "count" double precision NOT NULL, PRIMARY KEY ("key"))
 * @throws InvalidQueryError when the codec is not an object codec or a key column is not one of its fields.
 */
export function postgresTableDdl(options: PostgresTableOptions): string {
  const where = `createPostgresTable(${options.table})`
  const table = parseTableName(options.table)
  const columns = columnsOf(options.codec, where)
  const key = options.key ?? []
  const names = columns.map((c) => c.name)
  const missing = key.filter((k) => !names.includes(k))
  if (missing.length > 0) throw new InvalidQueryError(`${where}: key column(s) ${missing.join(', ')} not among the codec's fields (${names.join(', ')})`)
  const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.type}${c.nullable && !key.includes(c.name) ? '' : ' NOT NULL'}`)
  if (key.length > 0) defs.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`)
  return `CREATE TABLE IF NOT EXISTS ${table.sql} (${defs.join(', ')})`
}

/**
 * Creates the table a `postgresSink` writes, from the io-ts codec of the result rows (see {@link postgresTableDdl});
 * an existing table is left as it is.
 * @example
 * await createPostgresTable({ connectionString, table: 'counts', codec: t.type({ key: t.string, count: t.number }), key: ['key'] })
 * @throws InvalidQueryError for a codec it cannot map; the database's error when the statement fails.
 */
export async function createPostgresTable(options: PostgresConnection & PostgresTableOptions): Promise<void> {
  const ddl = postgresTableDdl(options)
  if (options.pool !== undefined) {
    await options.pool.query(ddl)
    return
  }
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: options.connectionString })
  await client.connect()
  try {
    await client.query(ddl)
  } finally {
    await client.end()
  }
}
