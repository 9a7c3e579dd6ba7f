/**
 * Real-process crash test of the connectors: two queries in a child process (`connectorCrashQuery.ts`) — a count per
 * key upserted into PostgreSQL with its checkpoint on disk, and every row appended to PostgreSQL with its checkpoint
 * in S3 (s3rver) — are killed with SIGKILL at random moments and restarted until both drain their input. The
 * tables must then hold the exact count of every key, and every input row exactly once.
 *
 * `SRX_SIGKILL_SEED=<seed> npx vitest run test/e2e/postgresS3Storm.test.ts` replays a run's input and delays.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresTableDdl } from '../../src/index.js'
import { startPostgres, type PostgresServer } from '../support/servers/postgres.js'
import { startS3, type S3Server } from '../support/servers/s3.js'
import { InputFiles } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'
import { projectEvent } from './postgresS3CrashQuery.js'

const script = join(import.meta.dirname, 'postgresS3CrashQuery.ts')
const cleanup = useStormCleanups()

let postgres: PostgresServer
let s3: S3Server

beforeAll(async () => {
  ;[postgres, s3] = await Promise.all([startPostgres(), startS3()])
}, 60_000)

afterAll(async () => {
  await Promise.all([postgres?.close(), s3?.close()])
})

async function sql<R>(client: pg.Client, text: string): Promise<R[]> {
  return (await client.query(text)).rows as R[]
}

describe('connector queries killed with SIGKILL at random moments and restarted until they drain', () => {
  it('leave PostgreSQL with the exact count per key and every row exactly once, checkpoints on disk and in S3', async () => {
    const root = await mkdtemp(join(tmpdir(), 'srx-sigkill-connectors-'))
    cleanup(() => rm(root, { recursive: true, force: true }))
    const db = new pg.Client({ connectionString: postgres.connectionString })
    await db.connect()
    try {
      await db.query(postgresTableDdl({ table: 'counts', codec: t.type({ key: t.string, count: t.Int }), key: ['key'] }))
      await db.query(postgresTableDdl({ table: 'events', codec: t.type({ id: t.Int, key: t.string, v2: t.number }) }))

      const random = stormRandom()
      const inputDir = join(root, 'input')
      await mkdir(inputDir, { recursive: true })
      const input = new InputFiles(inputDir, random.next, 40)
      await input.addFiles(30)
      await runStorm(
        'postgres+s3',
        {
          script,
          args: [inputDir, join(root, 'checkpoint'), postgres.connectionString, s3.endpoint, s3.bucket, `storm-${random.seed}`],
          minKills: 20,
          maxKillDelayMs: 400,
          topUp: () => input.addFiles(10),
        },
        random,
        () => input.rows.length,
      )

      const expectedCounts: Record<string, number> = {}
      for (const row of input.rows) expectedCounts[row.key] = (expectedCounts[row.key] ?? 0) + 1
      const counts = await sql<{ key: string; count: string }>(db, 'SELECT key, count FROM counts')
      expect(Object.fromEntries(counts.map((r) => [r.key, Number(r.count)]))).toEqual(expectedCounts)

      const events = await sql<{ id: string; key: string; v2: number }>(db, 'SELECT id, key, v2 FROM events ORDER BY id')
      expect(events.length).toBe(input.rows.length)
      expect(events.map((e) => ({ id: Number(e.id), key: e.key, v2: e.v2 }))).toEqual(input.rows.map(projectEvent))

      const queries = await sql<{ n: number }>(db, 'SELECT count(DISTINCT query_id)::int AS n FROM structured_rx_batches')
      expect(queries[0]!.n).toBe(2)
    } finally {
      await db.end()
    }
  }, 600_000)
})
