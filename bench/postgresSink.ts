/**
 * PostgreSQL sink benchmark: `postgresSink` in append mode against a hand-written baseline that writes the same rows
 * with multi-row INSERTs in one transaction per batch, on a real server started for the run. The sink's extra work
 * per batch (claiming the batch id, pruning old markers, mapping rows to parameters) must cost little next to the
 * database's own.
 */
import * as t from 'io-ts'
import pg from 'pg'
import { postgresSink, postgresTableDdl, type SinkWriter } from '../src/index.js'
import { startPostgres } from '../test/support/servers/postgres.js'
import { generateRows, type Row } from './data.js'
import { type BenchGroup, phasedCase } from './harness.js'

const ROWS = 40_000
const BATCH_ROWS = 4_000

interface EventRow {
  readonly id: number
  readonly key: string
  readonly v: number
}

/** Σ id + v over the table: both cases must leave the same rows. */
async function tableChecksum(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ s: string }>('SELECT coalesce(sum(id + v), 0)::text AS s FROM bench_events')
  return Number(rows[0]!.s)
}

/** The baseline: BEGIN, one multi-row INSERT with bind parameters, COMMIT — per batch. */
async function rawInsert(pool: pg.Pool, batches: readonly EventRow[][]): Promise<void> {
  const client = await pool.connect()
  try {
    for (const batch of batches) {
      const values: unknown[] = []
      const tuples: string[] = []
      for (const row of batch) {
        const n = values.length
        tuples.push(`($${n + 1}, $${n + 2}, $${n + 3})`)
        values.push(row.id, row.key, row.v)
      }
      await client.query('BEGIN')
      await client.query(`INSERT INTO bench_events (id, key, v) VALUES ${tuples.join(', ')}`, values)
      await client.query('COMMIT')
    }
  } finally {
    client.release()
  }
}

export const postgresSinkGroup: BenchGroup = {
  name: 'postgresSink',
  description: `${ROWS.toLocaleString('en')} rows appended to PostgreSQL in batches of ${BATCH_ROWS.toLocaleString('en')}, one transaction each`,
  async prepare() {
    const server = await startPostgres()
    const pool = new pg.Pool({ connectionString: server.connectionString, max: 2 })
    await pool.query(postgresTableDdl({ table: 'bench_events', codec: t.type({ id: t.Int, key: t.string, v: t.Int }) }))
    const rows: EventRow[] = generateRows({ count: ROWS, keys: 1_000, seed: 11 }).map((r: Row, id) => ({ id, key: r.key, v: r.v }))
    const batches: EventRow[][] = []
    for (let i = 0; i < rows.length; i += BATCH_ROWS) batches.push(rows.slice(i, i + BATCH_ROWS))
    const emptyTable = () => pool.query('TRUNCATE bench_events')
    let repetition = 0

    const raw = phasedCase('raw multi-row INSERT', ROWS, {
      setup: emptyTable,
      async run() {
        await rawInsert(pool, batches)
        return await tableChecksum(pool)
      },
    })
    const sink = phasedCase('postgresSink (append)', ROWS, {
      async setup(): Promise<SinkWriter<EventRow>> {
        await emptyTable()
        const ctx = { queryId: `bench-${repetition++}`, queryName: undefined, outputMode: 'append' as const, fs: undefined as never }
        return await postgresSink<EventRow>({ pool, table: 'bench_events' }).open(ctx)
      },
      async run(writer) {
        for (const [batchId, batch] of batches.entries()) await writer.addBatch(batchId, batch)
        return await tableChecksum(pool)
      },
    })
    return {
      cases: [raw, sink],
      comparisons: [{ title: 'postgresSink vs raw multi-row INSERT', subject: sink.name, baseline: raw.name, target: 0.7 }],
      async dispose() {
        await pool.end()
        await server.close()
      },
    }
  },
}
