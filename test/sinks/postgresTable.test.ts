/**
 * createPostgresTable and postgresTableDdl: each io-ts codec kind maps to its column type and nullability, the row
 * codec is read through its wrappers, a window becomes two bigint columns, the key becomes the primary key; and the
 * statement, run against a real PostgreSQL server, gives a table that postgresSink writes rows of the codec into.
 */
import * as t from 'io-ts'
import pg from 'pg'
import { beforeEach, describe, expect, it } from 'vitest'
import { createPostgresTable, InvalidQueryError, postgresSink, postgresTableDdl, type SinkContext } from '../../src/index.js'
import { rejectionOf, thrownBy } from '../checkpoint/tempDir.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { useServer } from '../support/servers/managed.js'
import { startPostgres } from '../support/servers/postgres.js'

const postgres = useServer(startPostgres, {
  client: (s) => new pg.Pool({ connectionString: s.connectionString, max: 4 }).on('error', () => undefined),
  closeClient: (pool) => pool.end(),
})

beforeEach(async () => {
  await postgres.client.query('DROP TABLE IF EXISTS scalars, nullables, events, structured_rx_batches')
  await postgres.client.query('DROP SCHEMA IF EXISTS analytics CASCADE')
})

interface PositiveBrand {
  readonly Positive: unique symbol
}
const Positive = t.brand(t.number, (n): n is t.Branded<number, PositiveBrand> => n > 0, 'Positive')

/** One field of each scalar kind, wrapped or not. */
const Scalars = t.type({
  s: t.string,
  k: t.keyof({ a: null, b: null }),
  n: t.number,
  i: t.Int,
  big: t.bigint,
  b: t.boolean,
  pos: Positive,
  ro: t.readonly(t.boolean),
  ls: t.literal('x'),
  ln: t.literal(1),
  lb: t.literal(false),
  arr: t.array(t.string),
  obj: t.type({ a: t.number }),
  u: t.unknown,
})

const SCALARS_DDL =
  'CREATE TABLE IF NOT EXISTS "scalars" ("s" text NOT NULL, "k" text NOT NULL, "n" double precision NOT NULL, ' +
  '"i" bigint NOT NULL, "big" numeric NOT NULL, "b" boolean NOT NULL, "pos" double precision NOT NULL, "ro" boolean NOT NULL, ' +
  '"ls" text NOT NULL, "ln" double precision NOT NULL, "lb" boolean NOT NULL, "arr" jsonb NOT NULL, "obj" jsonb NOT NULL, "u" jsonb NOT NULL)'

/** Fields that admit null or undefined, alone or in a union, and unions of one or several column types. */
const Nullables = t.type({
  a: t.null,
  b: t.undefined,
  c: t.void,
  e: t.union([t.string, t.null]),
  f: t.union([t.number, t.undefined]),
  g: t.union([t.boolean, t.void]),
  h: t.union([t.string, t.union([t.string, t.null])]),
  i: t.union([t.literal('a'), t.literal('b')]),
  j: t.union([t.string, t.number]),
  k: t.union([t.Int, t.number, t.null]),
})

const NULLABLES_DDL =
  'CREATE TABLE IF NOT EXISTS "nullables" ("a" text, "b" text, "c" text, "e" text, "f" double precision, "g" boolean, ' +
  '"h" text, "i" text NOT NULL, "j" jsonb NOT NULL, "k" jsonb)'

const context = (outputMode: SinkContext['outputMode']): SinkContext => ({ queryId: 'q-table', queryName: undefined, outputMode, fs: undefined as never })

/** The table's columns as the server describes them, in order. */
async function columnsOf(table: string, schema = 'public'): Promise<{ name: string; type: string; nullable: string }[]> {
  const { rows } = await postgres.client.query(
    'SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns ' +
      'WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [schema, table],
  )
  return rows
}

async function primaryKeyOf(table: string): Promise<string[]> {
  const { rows } = await postgres.client.query<{ name: string }>(
    'SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) ' +
      'WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)',
    [table],
  )
  return rows.map((r) => r.name)
}

/** How many connections a client named `name` has open on the server. */
async function connectionsNamed(name: string): Promise<number> {
  const { rows } = await postgres.client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [name])
  return rows[0]!.n
}

const withName = (connectionString: string, name: string): string => `${connectionString}?application_name=${name}`

describe('postgresTableDdl', () => {
  it('maps each scalar codec, refined, branded or readonly, to its column type, NOT NULL', () => {
    expect(postgresTableDdl({ table: 'scalars', codec: Scalars })).toBe(SCALARS_DDL)
  })

  it('makes a column nullable when its codec admits null, undefined or void, and jsonb when a union mixes types', () => {
    expect(postgresTableDdl({ table: 'nullables', codec: Nullables })).toBe(NULLABLES_DDL)
  })

  it('makes a literal of null, which only untyped JavaScript can write, a nullable text column', () => {
    const codec = t.type({ id: t.string, gone: t.literal(null as unknown as string) })
    expect(postgresTableDdl({ table: 'events', codec })).toBe('CREATE TABLE IF NOT EXISTS "events" ("id" text NOT NULL, "gone" text)')
  })

  it('reads the fields of t.strict, t.exact, t.readonly and refined row codecs, and of the older StrictType', () => {
    const fields = { id: t.string, n: t.number }
    const expected = 'CREATE TABLE IF NOT EXISTS "events" ("id" text NOT NULL, "n" double precision NOT NULL)'
    const Fields = t.type(fields)
    const older = new t.StrictType('Older', Fields.is, Fields.validate, Fields.encode, fields)
    for (const codec of [
      t.strict(fields),
      t.exact(t.type(fields)),
      t.readonly(t.type(fields)),
      t.refinement(t.type(fields), (r) => r.n > 0, 'PositiveN'),
      older,
    ]) {
      expect(postgresTableDdl({ table: 'events', codec }), codec.name).toBe(expected)
    }
  })

  it('makes every field of t.partial nullable, in an intersection with required ones', () => {
    const codec = t.intersection([t.type({ id: t.string }), t.partial({ note: t.string, at: t.Int })])
    expect(postgresTableDdl({ table: 'events', codec })).toBe('CREATE TABLE IF NOT EXISTS "events" ("id" text NOT NULL, "note" text, "at" bigint)')
  })

  it('stores a window field as bigint window_start and window_end, nullable when the window is optional', () => {
    const Window = t.type({ start: t.number, end: t.number })
    expect(postgresTableDdl({ table: 'events', codec: t.type({ window: t.exact(Window), n: t.Int }) })).toBe(
      'CREATE TABLE IF NOT EXISTS "events" ("window_start" bigint NOT NULL, "window_end" bigint NOT NULL, "n" bigint NOT NULL)',
    )
    expect(postgresTableDdl({ table: 'events', codec: t.partial({ window: Window }) })).toBe(
      'CREATE TABLE IF NOT EXISTS "events" ("window_start" bigint, "window_end" bigint)',
    )
  })

  it('keeps as one column a window field without both bounds, a non-object window, and a window-shaped field of another name', () => {
    const codec = t.type({ window: t.type({ start: t.number }), span: t.type({ start: t.number, end: t.number }) })
    expect(postgresTableDdl({ table: 'events', codec })).toBe('CREATE TABLE IF NOT EXISTS "events" ("window" jsonb NOT NULL, "span" jsonb NOT NULL)')
    expect(postgresTableDdl({ table: 'events', codec: t.type({ window: t.type({ end: t.number }) }) })).toBe(
      'CREATE TABLE IF NOT EXISTS "events" ("window" jsonb NOT NULL)',
    )
    expect(postgresTableDdl({ table: 'events', codec: t.type({ window: t.string }) })).toBe('CREATE TABLE IF NOT EXISTS "events" ("window" text NOT NULL)')
  })

  it('makes key columns NOT NULL even when their field is optional, and adds no primary key without a key', () => {
    const codec = t.partial({ user: t.string, day: t.string, n: t.number })
    expect(postgresTableDdl({ table: 'analytics.events', codec, key: ['user', 'day'] })).toBe(
      'CREATE TABLE IF NOT EXISTS "analytics"."events" ("user" text NOT NULL, "day" text NOT NULL, "n" double precision, PRIMARY KEY ("user", "day"))',
    )
    expect(postgresTableDdl({ table: 'events', codec, key: [] })).toBe(
      'CREATE TABLE IF NOT EXISTS "events" ("user" text, "day" text, "n" double precision)',
    )
  })

  it('names every key column missing from the codec, and the codec fields there are', () => {
    const error = thrownBy(() => postgresTableDdl({ table: 'events', codec: t.type({ id: t.string, n: t.number }), key: ['user', 'id', 'day'] }))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe("createPostgresTable(events): key column(s) user, day not among the codec's fields (id, n)")
  })

  it('rejects a row codec that is not an object codec, naming the table and the codec', () => {
    for (const [codec, name] of [
      [t.string, 'string'],
      [t.union([t.type({ a: t.string }), t.type({ b: t.string })]), '({ a: string } | { b: string })'],
      [t.array(t.type({ a: t.string })), 'Array<{ a: string }>'],
    ] as const) {
      const error = thrownBy(() => postgresTableDdl({ table: 'analytics.events', codec }))
      expect(error).toBeInstanceOf(InvalidQueryError)
      expect((error as Error).message).toBe(
        `createPostgresTable(analytics.events): the row codec must be an object codec (t.type, t.partial, t.intersection), got ${name}`,
      )
    }
  })

  it('rejects a table name that is not table or schema.table', () => {
    expect(() => postgresTableDdl({ table: 'a.b.c', codec: t.type({ id: t.string }) })).toThrow("table must be 'table' or 'schema.table', got 'a.b.c'")
  })
})

describe('createPostgresTable', () => {
  it('creates through a pool the columns the statement names, and postgresSink writes rows of the codec into them', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'scalars', codec: Scalars })
    expect(await columnsOf('scalars')).toEqual([
      { name: 's', type: 'text', nullable: 'NO' },
      { name: 'k', type: 'text', nullable: 'NO' },
      { name: 'n', type: 'double precision', nullable: 'NO' },
      { name: 'i', type: 'bigint', nullable: 'NO' },
      { name: 'big', type: 'numeric', nullable: 'NO' },
      { name: 'b', type: 'boolean', nullable: 'NO' },
      { name: 'pos', type: 'double precision', nullable: 'NO' },
      { name: 'ro', type: 'boolean', nullable: 'NO' },
      { name: 'ls', type: 'text', nullable: 'NO' },
      { name: 'ln', type: 'double precision', nullable: 'NO' },
      { name: 'lb', type: 'boolean', nullable: 'NO' },
      { name: 'arr', type: 'jsonb', nullable: 'NO' },
      { name: 'obj', type: 'jsonb', nullable: 'NO' },
      { name: 'u', type: 'jsonb', nullable: 'NO' },
    ])
    const writer = await postgresSink<t.TypeOf<typeof Scalars>>({ pool: postgres.client, table: 'scalars' }).open(context('append'))
    await writer.addBatch(0, [
      { s: 's', k: 'b', n: 1.5, i: 2 as t.Int, big: 2n ** 70n, b: true, pos: 3 as t.TypeOf<typeof Positive>, ro: false, ls: 'x', ln: 1, lb: false, arr: ['p', 'q'], obj: { a: 4 }, u: [1, { z: null }] },
    ])
    expect((await postgres.client.query('SELECT s, k, n, i::int, big::text, b, pos, ro, ls, ln, lb, arr, obj, u FROM scalars')).rows).toEqual([
      { s: 's', k: 'b', n: 1.5, i: 2, big: String(2n ** 70n), b: true, pos: 3, ro: false, ls: 'x', ln: 1, lb: false, arr: ['p', 'q'], obj: { a: 4 }, u: [1, { z: null }] },
    ])
  })

  it('creates nullable columns that take missing fields, and a windowed table keyed on its window', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'nullables', codec: Nullables })
    expect((await columnsOf('nullables')).map((c) => `${c.name} ${c.type} ${c.nullable}`)).toEqual([
      'a text YES',
      'b text YES',
      'c text YES',
      'e text YES',
      'f double precision YES',
      'g boolean YES',
      'h text YES',
      'i text NO',
      'j jsonb NO',
      'k jsonb YES',
    ])
    await postgres.client.query('CREATE SCHEMA analytics')
    const Windowed = t.intersection([t.type({ key: t.string, window: t.type({ start: t.number, end: t.number }) }), t.partial({ count: t.Int })])
    await createPostgresTable({ pool: postgres.client, table: 'analytics.events', codec: Windowed, key: ['key', 'window_start', 'window_end'] })
    expect(await columnsOf('events', 'analytics')).toEqual([
      { name: 'key', type: 'text', nullable: 'NO' },
      { name: 'window_start', type: 'bigint', nullable: 'NO' },
      { name: 'window_end', type: 'bigint', nullable: 'NO' },
      { name: 'count', type: 'bigint', nullable: 'YES' },
    ])
    expect(await primaryKeyOf('analytics.events')).toEqual(['key', 'window_start', 'window_end'])
    const writer = await postgresSink({ pool: postgres.client, table: 'analytics.events' }).open(context('update'))
    await writer.addBatch(0, [{ key: 'a', window: { start: 0, end: 10_000 } }, { key: 'a', window: { start: 10_000, end: 20_000 }, count: 2 }])
    expect((await postgres.client.query('SELECT key, window_start::int AS s, count::int FROM analytics.events ORDER BY s')).rows).toEqual([
      { key: 'a', s: 0, count: null },
      { key: 'a', s: 10_000, count: 2 },
    ])
  })

  it('leaves an existing table as it is', async () => {
    await postgres.client.query('CREATE TABLE events (other text)')
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: t.type({ id: t.string }), key: ['id'] })
    expect(await columnsOf('events')).toEqual([{ name: 'other', type: 'text', nullable: 'YES' }])
  })

  it('creates the table with a connection string and closes its connection', async () => {
    const connectionString = withName(postgres.server.connectionString, 'create-table')
    await createPostgresTable({ connectionString, table: 'events', codec: t.type({ id: t.string }), key: ['id'] })
    expect(await columnsOf('events')).toEqual([{ name: 'id', type: 'text', nullable: 'NO' }])
    expect(await primaryKeyOf('events')).toEqual(['id'])
    await expect.poll(() => connectionsNamed('create-table')).toBe(0)
  })

  it("rejects with the database's error when the statement fails, and still closes its connection", async () => {
    const connectionString = withName(postgres.server.connectionString, 'create-failing')
    const error = await rejectionOf(createPostgresTable({ connectionString, table: 'missing_schema.events', codec: t.type({ id: t.string }) }))
    expect(error).toMatchObject({ code: '3F000', message: 'schema "missing_schema" does not exist' })
    await expect.poll(() => connectionsNamed('create-failing')).toBe(0)
    const throughPool = await rejectionOf(createPostgresTable({ pool: postgres.client, table: 'missing_schema.events', codec: t.type({ id: t.string }) }))
    expect(throughPool).toMatchObject({ code: '3F000' })
  })

  it('rejects a codec it cannot map before it connects', async () => {
    const nowhere = `postgres://postgres@127.0.0.1:${await freeLoopbackPort()}/postgres`
    const error = await rejectionOf(createPostgresTable({ connectionString: nowhere, table: 'events', codec: t.string }))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/the row codec must be an object codec/)
  })
})
