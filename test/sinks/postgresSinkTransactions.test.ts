/**
 * postgresSink's connections and transactions against a real PostgreSQL server: a failed batch rolls back its
 * marker and discards its connection, a connection that drops while checked out or while idle is survived, the pool
 * the sink owns is closed however it ends (and a pool passed in never is), two sinks creating the marker table at
 * once both open, and the errors a batch or an open fails with name what is wrong.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import * as t from 'io-ts'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ConnectorUnavailableError,
  createPostgresTable,
  InvalidQueryError,
  postgresSink,
  type SinkContext,
  type SinkWriter,
} from '../../src/index.js'
import { markerTableDdl } from '../../src/sinks/postgresSql.js'
import { rejectionOf, thrownBy } from '../checkpoint/tempDir.js'
import { useServer } from '../support/servers/managed.js'
import { startPostgres } from '../support/servers/postgres.js'
import { freeLoopbackPort } from '../support/servers/ports.js'

const postgres = useServer(startPostgres, {
  client: (s) => new pg.Pool({ connectionString: s.connectionString, max: 4 }).on('error', () => undefined),
  closeClient: (pool) => pool.end(),
})

const Event = t.type({ id: t.Int, user: t.string, amount: t.number })
type Event = { id: number; user: string; amount: number }

/** Pools, proxies and writers a test opened, closed after it whatever its outcome. */
const closers: (() => Promise<unknown>)[] = []

beforeEach(async () => {
  await postgres.client.query('DROP TABLE IF EXISTS events, counts, structured_rx_batches')
  await postgres.client.query('DROP SCHEMA IF EXISTS analytics CASCADE')
  await createPostgresTable({ pool: postgres.client, table: 'events', codec: Event })
})

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

const context = (outputMode: SinkContext['outputMode'], queryId = 'q-tx'): SinkContext => ({ queryId, queryName: undefined, outputMode, fs: undefined as never })

/** A pool of the test's own, named on the server so its connections can be told apart. */
function ownPool(name: string, options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: postgres.server.connectionString, application_name: name, ...options })
  pool.on('error', () => undefined)
  closers.push(() => pool.end())
  return pool
}

async function ids(): Promise<number[]> {
  return (await postgres.client.query<{ id: number }>('SELECT id::int FROM events ORDER BY id')).rows.map((r) => r.id)
}

async function markers(): Promise<{ query_id: string; batch_id: number }[]> {
  return (await postgres.client.query('SELECT query_id, batch_id::int FROM structured_rx_batches ORDER BY query_id, batch_id')).rows
}

/** The states (`idle`, `idle in transaction`, …) of the connections a client named `name` has open. */
async function statesOf(name: string): Promise<string[]> {
  const { rows } = await postgres.client.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE application_name = $1', [name])
  return rows.map((r) => r.state)
}

const event = (id: number): Event => ({ id, user: `u${id}`, amount: id / 2 })

/**
 * A TCP proxy to the server that, the first time the client sends a chunk matching `trigger`, closes both sides
 * without forwarding it: the connection drops under a statement in flight.
 */
async function droppingProxy(trigger: RegExp): Promise<{ connectionString: string; dropped: () => boolean }> {
  let armed = true
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(postgres.server.port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      if (armed && trigger.test(chunk.toString('latin1'))) {
        armed = false
        client.destroy()
        upstream.destroy()
        return
      }
      upstream.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy: no port')
  closers.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { connectionString: `postgres://postgres@127.0.0.1:${address.port}/postgres`, dropped: () => !armed }
}

async function opened<R extends object>(writer: Promise<SinkWriter<R>>): Promise<SinkWriter<R>> {
  const w = await writer
  closers.push(async () => w.stop?.())
  return w
}

describe('postgresSink transactions', () => {
  it('rolls a failed batch back with its marker, discards its connection, and then writes the batch re-run and the next', async () => {
    const pool = ownPool('sink-failing', { max: 1 })
    const writer = await opened(postgresSink<Event>({ pool, table: 'events' }).open(context('append')))
    const released: (Error | undefined)[] = []
    pool.on('release', (error: Error | undefined) => released.push(error))
    const error = await rejectionOf(writer.addBatch(0, [event(1), { id: 2, user: 'b', amount: 'lots' as unknown as number }]))
    expect(error).toMatchObject({ code: '22P02', message: 'invalid input syntax for type double precision: "lots"' })
    // The pool was told why: it destroys that connection rather than hand its aborted transaction to the next batch.
    expect(released).toEqual([error])
    expect(released[0]).toBe(error)
    expect(await ids()).toEqual([])
    expect(await postgres.client.query('SELECT count(*)::int AS n FROM structured_rx_batches')).toMatchObject({ rows: [{ n: 0 }] })
    await writer.addBatch(0, [event(1), event(2)])
    await writer.addBatch(1, [event(3)])
    expect(await ids()).toEqual([1, 2, 3])
    expect(await markers()).toEqual([
      { query_id: 'q-tx', batch_id: 0 },
      { query_id: 'q-tx', batch_id: 1 },
    ])
    expect(released).toEqual([error, undefined, undefined])
  })

  it('leaves no transaction open after a batch it skipped as already written', async () => {
    const pool = ownPool('sink-skipping', { max: 1 })
    const writer = await opened(postgresSink<Event>({ pool, table: 'events' }).open(context('append')))
    await writer.addBatch(0, [event(1)])
    await writer.addBatch(0, [event(1)])
    expect(await statesOf('sink-skipping')).toEqual(['idle'])
    // A schema change waits for no transaction of the sink's.
    await postgres.client.query("SET lock_timeout = '2s'; ALTER TABLE events ADD COLUMN note text; RESET lock_timeout")
    expect(await ids()).toEqual([1])
  })

  it('uses one pooled connection for many batches without leaving an error listener behind per batch', async () => {
    const pool = ownPool('sink-listeners', { max: 1 })
    const writer = await opened(postgresSink<Event>({ pool, table: 'events' }).open(context('append')))
    const listeners: number[] = []
    pool.on('release', (_error: Error | undefined, client: pg.PoolClient) => listeners.push(client.listenerCount('error')))
    for (let batch = 0; batch < 12; batch++) await writer.addBatch(batch, [event(batch)])
    expect(await ids()).toHaveLength(12)
    expect(new Set(listeners).size).toBe(1)
    expect(listeners).toHaveLength(12)
  })

  it('retries a batch whose connection drops in the middle of its transaction, and writes it once', async () => {
    const proxy = await droppingProxy(/INSERT INTO "events"/)
    const writer = await opened(
      postgresSink<Event>({ connectionString: proxy.connectionString, table: 'events', retry: { attempts: 5, initialDelayMs: 10, maxDelayMs: 50 } }).open(
        context('append'),
      ),
    )
    await writer.addBatch(0, [event(1), event(2)])
    expect(proxy.dropped()).toBe(true)
    await writer.addBatch(1, [event(3)])
    expect(await ids()).toEqual([1, 2, 3])
    expect(await markers()).toEqual([
      { query_id: 'q-tx', batch_id: 0 },
      { query_id: 'q-tx', batch_id: 1 },
    ])
  })

  it('survives an idle connection of its own pool dropped by the server, and writes the next batch', async () => {
    const writer = await opened(postgresSink<Event>({ connectionString: postgres.server.connectionString, table: 'events' }).open(context('append')))
    await writer.addBatch(0, [event(1)])
    const terminated = await postgres.client.query<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'structured-rx'",
    )
    expect(terminated.rows.length).toBeGreaterThan(0)
    await expect.poll(() => statesOf('structured-rx')).toEqual([])
    // The pool heard of the drop while the connection was idle; give that report time to arrive before writing.
    await new Promise((resolve) => setTimeout(resolve, 100))
    await writer.addBatch(1, [event(2)])
    expect(await ids()).toEqual([1, 2])
  })

  it('writes nothing for an empty append batch but records it, and empties the table for an empty complete batch', async () => {
    const append = await opened(postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('append', 'q-append')))
    await append.addBatch(0, [event(1)])
    await append.addBatch(1, [])
    expect(await ids()).toEqual([1])
    const complete = await opened(postgresSink<Event>({ pool: postgres.client, table: 'events' }).open(context('complete', 'q-complete')))
    await complete.addBatch(0, [])
    expect(await ids()).toEqual([])
    await createPostgresTable({ pool: postgres.client, table: 'counts', codec: t.type({ key: t.string, n: t.Int }), key: ['key'] })
    const update = await opened(postgresSink({ pool: postgres.client, table: 'counts' }).open(context('update', 'q-update')))
    await update.addBatch(0, [])
    expect(await markers()).toEqual([
      { query_id: 'q-append', batch_id: 0 },
      { query_id: 'q-append', batch_id: 1 },
      { query_id: 'q-complete', batch_id: 0 },
      { query_id: 'q-update', batch_id: 0 },
    ])
  })
})

describe('postgresSink pools', () => {
  it('closes the pool it owns when it fails to open', async () => {
    const error = await rejectionOf(postgresSink({ connectionString: postgres.server.connectionString, table: 'missing_table' }).open(context('append')))
    expect(error).toBeInstanceOf(InvalidQueryError)
    await expect.poll(() => statesOf('structured-rx'), { timeout: 2_000 }).toEqual([])
  })

  it('never closes a pool passed in: not when the sink stops, not when it fails to open', async () => {
    const pool = ownPool('sink-passed')
    const writer = await postgresSink<Event>({ pool, table: 'events' }).open(context('append'))
    await writer.addBatch(0, [event(1)])
    await writer.stop?.()
    expect(await rejectionOf(postgresSink({ pool, table: 'missing_table' }).open(context('append')))).toBeInstanceOf(InvalidQueryError)
    expect((await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows).toEqual([{ n: 1 }])
  })

  it('gives up opening a database it cannot reach after the retries, naming the sink', async () => {
    const nowhere = `postgres://postgres@127.0.0.1:${await freeLoopbackPort()}/postgres`
    const error = await rejectionOf(
      postgresSink({ connectionString: nowhere, table: 'events', retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 } }).open(context('append')),
    )
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect(error).toMatchObject({ connector: 'PostgreSQL sink events (opening)', attempts: 2, cause: { code: 'ECONNREFUSED' } })
  })
})

describe('postgresSink marker table', () => {
  it('opens when another session creates the marker table at the same moment', async () => {
    await postgres.client.query('DROP TABLE IF EXISTS structured_rx_batches')
    const other = await postgres.client.connect()
    try {
      await other.query('BEGIN')
      await other.query(markerTableDdl('structured_rx_batches'))
      const pool = ownPool('sink-racing')
      const opening = postgresSink<Event>({ pool, table: 'events' }).open(context('append'))
      // The sink's CREATE TABLE waits for the other session's; once that commits, the sink's fails as a duplicate.
      await expect.poll(async () => (await postgres.client.query("SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'sink-racing'")).rows).toEqual([
        { wait_event_type: 'Lock' },
      ])
      await other.query('COMMIT')
      const writer = await opened(opening)
      await writer.addBatch(0, [event(1)])
    } finally {
      other.release()
    }
    expect(await markers()).toEqual([{ query_id: 'q-tx', batch_id: 0 }])
  })

  it('opens every one of several sinks started at once on a database without the marker table', async () => {
    const pool = ownPool('sink-crowd', { max: 8 })
    for (let round = 0; round < 20; round++) {
      await postgres.client.query('DROP TABLE IF EXISTS structured_rx_batches')
      const writers = await Promise.all(Array.from({ length: 8 }, (_, i) => postgresSink<Event>({ pool, table: 'events' }).open(context('append', `q${i}`))))
      await Promise.all(writers.map((w, i) => w.addBatch(round, [event(round * 10 + i)])))
    }
    expect(await ids()).toHaveLength(160)
  })

  it('fails to open, with the database error, when the marker table cannot be created for another reason', async () => {
    const error = await rejectionOf(postgresSink({ pool: postgres.client, table: 'missing_schema.events' }).open(context('append')))
    expect(error).toMatchObject({ code: '3F000', message: 'schema "missing_schema" does not exist' })
    // A statement that times out on the client carries no SQLSTATE: it is not taken for the race either.
    const other = await postgres.client.connect()
    try {
      await postgres.client.query('DROP TABLE IF EXISTS structured_rx_batches')
      await other.query('BEGIN')
      await other.query(markerTableDdl('structured_rx_batches'))
      const pool = ownPool('sink-timing-out', { query_timeout: 300 })
      const timedOut = await rejectionOf(postgresSink({ pool, table: 'events' }).open(context('append')))
      expect(timedOut).toMatchObject({ message: 'Query read timeout' })
      expect(timedOut).not.toHaveProperty('code')
    } finally {
      await other.query('ROLLBACK')
      other.release()
    }
  })
})

describe('postgresSink errors', () => {
  it('needs a connection string or a pool, and valid retry options, when it is made', () => {
    const neither = thrownBy(() => postgresSink({ table: 'events' } as never))
    expect(neither).toBeInstanceOf(InvalidQueryError)
    expect((neither as Error).message).toBe('postgresSink: pass either `connectionString` or `pool`')
    expect(() => postgresSink({ pool: postgres.client, table: 'events', retry: { attempts: 0 } })).toThrow(
      new RangeError('postgresSink: retry.attempts must be a positive integer, got 0'),
    )
    expect(postgresSink({ pool: postgres.client, table: 'analytics.events' }).description).toBe('PostgresSink[analytics.events]')
  })

  it('names the row fields without a column and every column of the table', async () => {
    const writer = await opened(postgresSink({ pool: postgres.client, table: 'events' }).open(context('append')))
    const error = await rejectionOf(writer.addBatch(0, [{ ...event(1), extra: 1, more: 2 }]))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe('PostgreSQL sink events: row field(s) extra, more have no column in the table (columns: id, user, amount)')
  })

  it('names the key columns an update-mode table lacks, and the key fields update-mode rows lack', async () => {
    await createPostgresTable({ pool: postgres.client, table: 'counts', codec: t.type({ key: t.string, day: t.string, n: t.Int }), key: ['key', 'day'] })
    const missing = await rejectionOf(postgresSink({ pool: postgres.client, table: 'counts', key: ['key', 'user', 'day', 'hour'] }).open(context('update')))
    expect(missing).toBeInstanceOf(InvalidQueryError)
    expect((missing as Error).message).toBe('postgresSink: key column(s) user, hour not in table counts (columns: key, day, n)')
    const writer = await opened(postgresSink({ pool: postgres.client, table: 'counts', key: ['key', 'day'] }).open(context('update')))
    const lacking = await rejectionOf(writer.addBatch(0, [{ n: 1 }]))
    expect(lacking).toBeInstanceOf(InvalidQueryError)
    expect((lacking as Error).message).toBe('PostgreSQL sink counts: rows lack the key field(s) key, day')
  })
})
