/**
 * postgresSink against a real PostgreSQL server started for this file: one transaction per batch, the batch marker
 * that makes a re-run write nothing twice, each output mode, the table helper, and clear errors for tables and rows
 * that do not fit.
 */
import * as t from 'io-ts'
import pg from 'pg'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  count,
  createPostgresTable,
  createSession,
  groupBy,
  InvalidQueryError,
  map,
  memorySource,
  postgresSink,
  postgresTableDdl,
  type SinkContext,
  StreamingQueryError,
} from '../../src/index.js'
import { rejectionOf } from '../checkpoint/tempDir.js'
import { at } from '../exec/support.js'
import { useServer } from '../support/servers/managed.js'
import { startPostgres } from '../support/servers/postgres.js'


const postgres = useServer(startPostgres, {
  client: (s) => new pg.Pool({ connectionString: s.connectionString, max: 4 }).on('error', () => undefined),
  closeClient: (pool) => pool.end(),
})

beforeEach(async () => {
  await postgres.client.query('DROP TABLE IF EXISTS events, counts, windowed, snapshot, structured_rx_batches')
})

const Event = t.type({ id: t.Int, user: t.string, amount: t.number })
type Event = { id: number; user: string; amount: number }

const context = (outputMode: SinkContext['outputMode'], queryId = 'q-test'): SinkContext => ({
  queryId,
  queryName: undefined,
  outputMode,
  fs: undefined as never,
})

async function rowsOf<T>(sql: string): Promise<T[]> {
  return (await postgres.client.query(sql)).rows as T[]
}

describe('postgresSink', () => {
  it('appends each batch in one transaction and records the batch id with the query id', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
    const writer = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append'))
    await writer.addBatch(0, [
      { id: 1, user: 'a', amount: 1.5 },
      { id: 2, user: 'b', amount: 2 },
    ])
    await writer.addBatch(1, [{ id: 3, user: 'a', amount: 3 }])
    expect(await rowsOf('SELECT id::int, "user", amount FROM events ORDER BY id')).toEqual([
      { id: 1, user: 'a', amount: 1.5 },
      { id: 2, user: 'b', amount: 2 },
      { id: 3, user: 'a', amount: 3 },
    ])
    expect(await rowsOf('SELECT query_id, batch_id::int FROM structured_rx_batches ORDER BY batch_id')).toEqual([
      { query_id: 'q-test', batch_id: 0 },
      { query_id: 'q-test', batch_id: 1 },
    ])
  })

  it('skips a batch re-run after it committed, and any batch older than the last committed one', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
    const writer = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append'))
    await writer.addBatch(0, [{ id: 1, user: 'a', amount: 1 }])
    await writer.addBatch(0, [{ id: 1, user: 'a', amount: 1 }])
    await writer.addBatch(1, [{ id: 2, user: 'a', amount: 1 }])
    await writer.addBatch(0, [{ id: 99, user: 'z', amount: 9 }])
    const again = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append'))
    await again.addBatch(1, [{ id: 2, user: 'a', amount: 1 }])
    expect(await rowsOf('SELECT id::int FROM events ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }])
  })

  it('keeps the batches of two queries apart by query id', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
    const first = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append', 'first'))
    const second = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append', 'second'))
    await first.addBatch(0, [{ id: 1, user: 'a', amount: 1 }])
    await second.addBatch(0, [{ id: 2, user: 'b', amount: 1 }])
    expect(await rowsOf('SELECT id::int FROM events ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }])
  })

  it('upserts an update-mode count on its key, so the table ends with the exact count per key', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'counts', codec: t.type({ key: t.string, count: t.Int }), key: ['key'] })
    const session = createSession({ shufflePartitions: 2 })
    const input = memorySource<Event>()
    const query = await session
      .readStream(input.source)
      .pipe(groupBy((e: Event) => e.user, t.string), count())
      .writeStream({ outputMode: 'update', sink: postgresSink({ pool: postgres.client, table: 'counts' }) })
      .start()
    const users = ['a', 'b', 'c', 'a', 'a', 'b']
    for (const [i, user] of users.entries()) {
      input.addData([{ id: i, user, amount: 1 }])
      await query.processAllAvailable()
    }
    await query.stop()
    expect(await rowsOf('SELECT key, count::int FROM counts ORDER BY key')).toEqual([
      { key: 'a', count: 3 },
      { key: 'b', count: 2 },
      { key: 'c', count: 1 },
    ])
  })

  it('flattens a window into window_start and window_end and upserts on key plus window by default', async () => {
    const Windowed = t.type({ key: t.string, window: t.type({ start: t.number, end: t.number }), count: t.Int })
    await createPostgresTable({ pool: postgres.client, table: 'windowed', codec: Windowed, key: ['key', 'window_start', 'window_end'] })
    const session = createSession({ shufflePartitions: 2 })
    const input = memorySource<{ user: string; ts: number }>()
    const query = await session
      .readStream(input.source)
      .pipe(groupBy((c: { user: string; ts: number }) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } }), count())
      .writeStream({ outputMode: 'update', sink: postgresSink({ pool: postgres.client, table: 'windowed' }) })
      .start()
    input.addData([{ user: 'a', ts: at(1) }, { user: 'a', ts: at(12) }])
    await query.processAllAvailable()
    input.addData([{ user: 'a', ts: at(3) }])
    await query.processAllAvailable()
    await query.stop()
    expect(await rowsOf('SELECT key, window_start::float8 AS s, window_end::float8 AS e, count::int FROM windowed ORDER BY s')).toEqual([
      { key: 'a', s: at(0), e: at(10), count: 2 },
      { key: 'a', s: at(10), e: at(20), count: 1 },
    ])
  })

  it('replaces the whole table with each batch in complete mode', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'snapshot', codec: t.type({ key: t.string, count: t.Int }) })
    const writer = await postgresSink({ pool: postgres.client, table: 'snapshot' }).open(context('complete'))
    await writer.addBatch(0, [{ key: 'a', count: 1 }, { key: 'b', count: 1 }])
    await writer.addBatch(1, [{ key: 'a', count: 2 }])
    expect(await rowsOf('SELECT key, count::int FROM snapshot')).toEqual([{ key: 'a', count: 2 }])
  })

  it('keeps the last row of a key that appears twice in one update-mode batch', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'counts', codec: t.type({ key: t.string, count: t.Int }), key: ['key'] })
    const writer = await postgresSink({ pool: postgres.client, table: 'counts' }).open(context('update'))
    await writer.addBatch(0, [{ key: 'a', count: 1 }, { key: 'a', count: 2 }])
    expect(await rowsOf('SELECT key, count::int FROM counts')).toEqual([{ key: 'a', count: 2 }])
  })

  it('writes a batch larger than one statement can carry (65,535 parameters) in full', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
    const writer = await postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append'))
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i, user: `u${i % 7}`, amount: i / 2 }))
    await writer.addBatch(0, rows)
    expect(await rowsOf('SELECT count(*)::int AS n, sum(id)::float8 AS s FROM events')).toEqual([{ n: 30_000, s: (29_999 * 30_000) / 2 }])
  })

  it('stores objects and arrays as JSON', async () => {
    await postgres.client.query('CREATE TABLE events (id int, tags jsonb)')
    const writer = await postgresSink({ pool: postgres.client, table: 'events' }).open(context('append'))
    await writer.addBatch(0, [{ id: 1, tags: ['x', 'y'] }, { id: 2, tags: { a: 1 } }])
    expect(await rowsOf('SELECT id, tags FROM events ORDER BY id')).toEqual([
      { id: 1, tags: ['x', 'y'] },
      { id: 2, tags: { a: 1 } },
    ])
  })

  it('writes a schema-qualified table, keeping its batch markers in that schema, and column names as they are spelt', async () => {
    await postgres.client.query('DROP SCHEMA IF EXISTS analytics CASCADE')
    await postgres.client.query('CREATE SCHEMA analytics')
    await postgres.client.query('CREATE TABLE analytics.events ("userId" text, "say ""hi""" text)')
    const writer = await postgresSink({ pool: postgres.client, table: 'analytics.events' }).open(context('append'))
    await writer.addBatch(0, [{ userId: 'a', 'say "hi"': 'hello' }])
    expect(await rowsOf('SELECT "userId", "say ""hi""" AS said FROM analytics.events')).toEqual([{ userId: 'a', said: 'hello' }])
    expect(await rowsOf('SELECT query_id, batch_id::int FROM analytics.structured_rx_batches')).toEqual([{ query_id: 'q-test', batch_id: 0 }])
    expect(await rowsOf("SELECT to_regclass('public.structured_rx_batches') AS t")).toEqual([{ t: null }])
    await postgres.client.query('DROP SCHEMA analytics CASCADE')
  })

  it('refuses to start on a table that does not exist, naming it', async () => {
    const error = await rejectionOf(postgresSink({ pool: postgres.client, table: 'missing_table' }).open(context('append')))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/table missing_table does not exist/)
  })

  it('refuses update mode on a table without the key columns, naming what is missing', async () => {
    await postgres.client.query('CREATE TABLE counts (k text, n int)')
    const error = await rejectionOf(postgresSink({ pool: postgres.client, table: 'counts' }).open(context('update')))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/none of key, window_start, window_end/)
  })

  it('fails the query, naming the field, when a row has a field the table has no column for', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
    const session = createSession()
    const input = memorySource<Event>()
    const query = await session
      .readStream(input.source)
      .pipe(map((e: Event) => ({ ...e, extra: 1 })))
      .writeStream({ outputMode: 'append', sink: postgresSink({ pool: postgres.client, table: 'events' }) })
      .start()
    input.addData([{ id: 1, user: 'a', amount: 1 }])
    const error = await rejectionOf(query.processAllAvailable())
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect((error as StreamingQueryError).cause).toBeInstanceOf(InvalidQueryError)
    expect(((error as StreamingQueryError).cause as Error).message).toMatch(/row field\(s\) extra have no column/)
    expect(await rowsOf('SELECT * FROM events')).toEqual([])
  })

  it('connects with a connection string and closes its own pool when the query stops', async () => {
    await createPostgresTable({ connectionString: postgres.server.connectionString, table: 'events', codec: Event })
    const session = createSession()
    const input = memorySource<Event>()
    const query = await session
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: postgresSink({ connectionString: postgres.server.connectionString, table: 'events' }) })
      .start()
    input.addData([{ id: 7, user: 'a', amount: 1 }])
    await query.processAllAvailable()
    const sinkConnections = async (): Promise<number> =>
      (await rowsOf<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'structured-rx'"))[0]!.n
    expect(await sinkConnections()).toBeGreaterThan(0)
    await query.stop()
    expect(await rowsOf('SELECT id::int FROM events')).toEqual([{ id: 7 }])
    await expect.poll(sinkConnections).toBe(0)
  })
})

describe('postgresTableDdl', () => {
  it('maps an io-ts row codec to columns, nullability and a primary key', () => {
    const codec = t.intersection([
      t.type({ key: t.string, window: t.type({ start: t.number, end: t.number }), count: t.Int, ok: t.boolean }),
      t.partial({ note: t.union([t.string, t.null]), extra: t.type({ a: t.number }) }),
    ])
    expect(postgresTableDdl({ table: 'analytics.counts', codec, key: ['key', 'window_start', 'window_end'] })).toBe(
      'CREATE TABLE IF NOT EXISTS "analytics"."counts" ("key" text NOT NULL, "window_start" bigint NOT NULL, ' +
        '"window_end" bigint NOT NULL, "count" bigint NOT NULL, "ok" boolean NOT NULL, "note" text, "extra" jsonb, ' +
        'PRIMARY KEY ("key", "window_start", "window_end"))',
    )
  })

  it('rejects a key column that is not a field of the codec', () => {
    expect(() => postgresTableDdl({ table: 'counts', codec: t.type({ key: t.string }), key: ['user'] })).toThrow(
      /key column\(s\) user not among the codec's fields \(key\)/,
    )
  })
})
