import type { Pool, PoolClient } from 'pg'
import type { OutputMode } from '../plan/plan.js'
import { InvalidQueryError } from '../errors.js'
import { type RetryOptions, retryPolicy, withRetry } from '../durable/retry.js'
import {
  claimBatchSql,
  columnsOf,
  flattenRow,
  insertStatements,
  isTransientPgError,
  lastRowPerKey,
  markerTableDdl,
  markerTableOf,
  parseTableName,
  pruneMarkersSql,
  type Statement,
  type TableName,
  upsertSuffix,
} from './postgresSql.js'
import type { Sink, SinkWriter } from './sink.js'

/**
 * The part of a `pg` Pool the PostgreSQL connectors call: pass your `new pg.Pool(…)`. It is written out here, not
 * imported from `pg`, so an app that never uses these connectors type-checks without `pg`'s types (`@types/pg`).
 * @example const pool: PostgresPoolLike = new pg.Pool({ connectionString: 'postgres://app@db/analytics', max: 4 })
 */
export interface PostgresPoolLike {
  /** Checks out a client for one transaction. */
  connect(): Promise<{ release(error?: Error | boolean): void }>
  /** Runs one statement on any client of the pool. */
  query(text: string, values?: unknown[]): Promise<{ readonly rows: unknown[] }>
}

/**
 * Where the sink connects: a connection string (the sink owns a small pool) or your own `pg` Pool.
 * @example postgresSink({ pool: new pg.Pool({ max: 4 }), table: 'counts' }) // or { connectionString: 'postgres://…' }
 */
export type PostgresConnection =
  | { readonly connectionString: string; readonly pool?: undefined }
  | { readonly pool: PostgresPoolLike; readonly connectionString?: undefined }

/**
 * Options of {@link postgresSink}.
 * @example postgresSink({ connectionString: 'postgres://app@127.0.0.1/analytics', table: 'analytics.counts', key: ['key'] })
 */
export type PostgresSinkOptions = PostgresConnection & {
  /** The table written: `table` or `schema.table`. It must exist (see `createPostgresTable`). */
  readonly table: string
  /**
   * The conflict columns of update mode (a primary key or unique index of the table must cover exactly these).
   * Default: those of `key`, `window_start`, `window_end` that the table has.
   */
  readonly key?: readonly string[]
  /** How a batch is retried while the database is unreachable. Default: 10 attempts, 100 ms doubling to 2 s. */
  readonly retry?: RetryOptions
}

/** What the sink learns about the table when it opens. */
interface TableInfo {
  readonly columns: ReadonlySet<string>
  readonly key: readonly string[]
}

/**
 * Writes each micro-batch to a PostgreSQL table in one transaction, exactly once: the transaction first records
 * `(queryId, batchId)` in `structured_rx_batches` (created beside the table) and skips the batch if it, or a later
 * one, is recorded already, so a batch re-run after a crash at any point writes nothing twice. Columns are the result
 * row's fields (a `window: { start, end }` field fills `window_start` and `window_end`); objects and arrays are
 * stored as JSON. By output mode: `append` inserts the rows, `update` upserts them on `key`
 * (INSERT … ON CONFLICT DO UPDATE), `complete` replaces the table's contents. A lost connection, a server restart
 * or a failover is retried with back-off (see `retry`); the connection string's pool is closed when the query stops.
 * @example
 * counts.writeStream({
 *   outputMode: 'update',
 *   sink: postgresSink({ connectionString: 'postgres://app@db/analytics', table: 'counts_by_key' }),
 *   checkpointLocation: '/ckpt/counts',
 * })
 * @throws InvalidQueryError at `start()` when the table does not exist or lacks an update-mode key column; a batch
 * fails the query with InvalidQueryError when a row field has no column, or ConnectorUnavailableError when the
 * database stays unreachable through every retry (about 11 s of waiting by default). RangeError for bad `retry`.
 */
export function postgresSink<R extends object = Record<string, unknown>>(options: PostgresSinkOptions): Sink<R> {
  if (options.pool === undefined && typeof options.connectionString !== 'string') {
    throw new InvalidQueryError('postgresSink: pass either `connectionString` or `pool`')
  }
  const table = parseTableName(options.table)
  const policy = retryPolicy(options.retry, 'postgresSink')
  const target = `PostgreSQL sink ${options.table}`
  return {
    description: `PostgresSink[${options.table}]`,
    async open(ctx) {
      // The public type is pg's Pool written out structurally; the pool passed is one.
      const pool = (options.pool as Pool | undefined) ?? (await ownPool(options.connectionString!))
      try {
        const info = await withRetry(`${target} (opening)`, policy, isTransientPgError, () =>
          prepare(pool, table, ctx.outputMode, options),
        )
        return writer(pool, options.pool === undefined, table, info, ctx.outputMode, ctx.queryId, policy, target)
      } catch (error) {
        if (options.pool === undefined) await pool.end().catch(() => undefined)
        throw error
      }
    },
  }
}

async function ownPool(connectionString: string): Promise<Pool> {
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 10_000, application_name: 'structured-rx' })
  // An idle connection dropped by a server restart is reported here; the next batch reconnects and retries.
  pool.on('error', () => undefined)
  return pool
}

/** Creates the batch-marker table and reads the table's columns; checks the update-mode key against them. */
async function prepare(pool: Pool, table: TableName, mode: OutputMode, options: PostgresSinkOptions): Promise<TableInfo> {
  const markerDdl = markerTableDdl(markerTableOf(table))
  await pool.query(markerDdl).catch((error: unknown) => {
    // Two sinks creating it at once: one wins; the other fails on the row type or the relation the winner just
    // created, as a duplicate key in the catalog, a duplicate table or a duplicate type, by when it looked.
    if (!['23505', '42P07', '42710'].includes((error as { code?: string }).code ?? '')) throw error
  })
  const found = await pool.query<{ attname: string }>(
    'SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [table.sql],
  )
  if (found.rows.length === 0) {
    throw new InvalidQueryError(
      `postgresSink: table ${options.table} does not exist (or has no columns); create it first, e.g. with createPostgresTable`,
    )
  }
  const columns = new Set(found.rows.map((r) => r.attname))
  const key = options.key ?? ['key', 'window_start', 'window_end'].filter((c) => columns.has(c))
  if (mode === 'update') {
    if (key.length === 0) {
      throw new InvalidQueryError(
        `postgresSink: update mode needs conflict columns; table ${options.table} has none of key, window_start, window_end — pass \`key\``,
      )
    }
    const missing = key.filter((c) => !columns.has(c))
    if (missing.length > 0) {
      throw new InvalidQueryError(`postgresSink: key column(s) ${missing.join(', ')} not in table ${options.table} (columns: ${[...columns].join(', ')})`)
    }
  }
  return { columns, key }
}

function writer<R>(
  pool: Pool,
  ownsPool: boolean,
  table: TableName,
  info: TableInfo,
  mode: OutputMode,
  queryId: string,
  policy: Required<RetryOptions>,
  target: string,
): SinkWriter<R> {
  const markerTable = markerTableOf(table)
  const claim = claimBatchSql(markerTable)
  const prune = pruneMarkersSql(markerTable)
  return {
    async addBatch(batchId, rows) {
      const statements = statementsFor(rows.map(flattenRow), table, info, mode, target)
      await withRetry(`${target}, batch ${batchId}`, policy, isTransientPgError, async () => {
        const client = await pool.connect()
        // A connection that drops while checked out reports here too; the running query rejects with it.
        const onError = (): void => undefined
        client.on('error', onError)
        let failure: Error | undefined
        try {
          await client.query('BEGIN')
          if ((await client.query(claim, [queryId, batchId])).rowCount === 0) {
            await client.query('ROLLBACK')
            return
          }
          for (const s of statements) await client.query(s.text, s.values)
          await client.query(prune, [queryId, batchId])
          await client.query('COMMIT')
        } catch (error) {
          failure = error instanceof Error ? error : new Error(String(error))
          throw error
        } finally {
          client.off('error', onError)
          // A failed transaction leaves its connection aborted or broken: discard it rather than reuse it.
          release(client, failure)
        }
      })
    },
    async stop() {
      if (ownsPool) await pool.end()
    },
  }
}

function release(client: PoolClient, failure: Error | undefined): void {
  if (failure === undefined) client.release()
  else client.release(failure)
}

/** The statements of one batch after its marker is claimed. */
function statementsFor(rows: Record<string, unknown>[], table: TableName, info: TableInfo, mode: OutputMode, target: string): Statement[] {
  const columns = columnsOf(rows)
  const unknown = columns.filter((c) => !info.columns.has(c))
  if (unknown.length > 0) {
    throw new InvalidQueryError(
      `${target}: row field(s) ${unknown.join(', ')} have no column in the table (columns: ${[...info.columns].join(', ')})`,
    )
  }
  switch (mode) {
    case 'append':
      return rows.length === 0 ? [] : insertStatements(table.sql, columns, rows)
    case 'complete':
      return [{ text: `DELETE FROM ${table.sql}`, values: [] }, ...(rows.length === 0 ? [] : insertStatements(table.sql, columns, rows))]
    case 'update': {
      if (rows.length === 0) return []
      const missing = info.key.filter((k) => !columns.includes(k))
      if (missing.length > 0) throw new InvalidQueryError(`${target}: rows lack the key field(s) ${missing.join(', ')}`)
      return insertStatements(table.sql, columns, lastRowPerKey(rows, info.key), upsertSuffix(columns, info.key))
    }
  }
}
