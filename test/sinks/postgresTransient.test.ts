/**
 * postgresSink while the database goes away (the server is stopped as by a crash, then started again): a short
 * outage is ridden out by retries with back-off; a long one fails the query with the cause, and the restart on the
 * same checkpoint is exact either way.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import pg from 'pg'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  ConnectorUnavailableError,
  createPostgresTable,
  createSession,
  jsonFiles,
  postgresSink,
  type StreamingQuery,
  StreamingQueryError,
  trigger,
} from '../../src/index.js'
import type { RetryOptions } from '../../src/durable/retry.js'
import { rejectionOf } from '../checkpoint/tempDir.js'
import { useServer } from '../support/servers/managed.js'
import { startPostgres } from '../support/servers/postgres.js'

const Event = t.type({ id: t.number, user: t.string })
type Event = t.TypeOf<typeof Event>

let root: string
let files = 0
let nextId = 0

const postgres = useServer(startPostgres)

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'srx-pg-transient-'))
  await mkdir(join(root, 'input'))
  files = 0
  nextId = 0
  await query('DROP TABLE IF EXISTS events, structured_rx_batches')
  await createPostgresTable({ connectionString: postgres.server.connectionString, table: 'events', codec: Event })
  return () => rm(root, { recursive: true, force: true })
})

async function query<R = Record<string, unknown>>(sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: postgres.server.connectionString })
  await client.connect()
  try {
    return (await client.query(sql)).rows as R[]
  } finally {
    await client.end()
  }
}

async function addFile(rows: number): Promise<void> {
  const lines = Array.from({ length: rows }, () => JSON.stringify({ id: nextId++, user: `u${nextId % 3}` }))
  const name = `input-${String(files++).padStart(4, '0')}.json`
  // Written under a dot name and renamed, so the running query never lists a half-written file.
  await writeFile(join(root, 'input', `.${name}`), lines.join('\n') + '\n')
  await rename(join(root, 'input', `.${name}`), join(root, 'input', name))
}

async function start(retry: RetryOptions, once = false): Promise<StreamingQuery> {
  return await createSession()
    .readStream(jsonFiles(join(root, 'input'), { codec: Event, maxFilesPerTrigger: 1 }))
    .writeStream({
      outputMode: 'append',
      sink: postgresSink({ connectionString: postgres.server.connectionString, table: 'events', retry }),
      checkpointLocation: join(root, 'checkpoint'),
      trigger: once ? trigger.availableNow() : trigger.processingTime(20),
    })
    .start()
}

/** Every id written, and how many rows there are: equal lengths mean no duplicates. */
async function written(): Promise<{ ids: number[]; rows: number }> {
  const rows = await query<{ id: number }>('SELECT id FROM events ORDER BY id')
  return { ids: [...new Set(rows.map((r) => r.id))], rows: rows.length }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

describe('postgresSink when the database goes away', () => {
  it('retries a batch through a short outage and writes every row exactly once', async () => {
    await addFile(50)
    const running = await start({ attempts: 40, initialDelayMs: 50, maxDelayMs: 500 })
    await running.processAllAvailable()
    await postgres.server.stop()
    await addFile(50)
    await addFile(50)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(running.isActive).toBe(true)
    await postgres.server.start()
    await running.processAllAvailable()
    await running.stop()
    expect(await written()).toEqual({ ids: range(150), rows: 150 })
  })

  it('fails the query with the cause after the bounded retries, and a restart after the outage is exact', async () => {
    await addFile(40)
    await addFile(40)
    const running = await start({ attempts: 3, initialDelayMs: 20, maxDelayMs: 50 })
    await running.processAllAvailable()
    await postgres.server.stop()
    await addFile(40)
    const error = await rejectionOf(running.awaitTermination())
    expect(error).toBeInstanceOf(StreamingQueryError)
    const cause = (error as StreamingQueryError).cause
    expect(cause).toBeInstanceOf(ConnectorUnavailableError)
    expect(cause).toMatchObject({ attempts: 3, connector: 'PostgreSQL sink events, batch 2' })
    expect((cause as ConnectorUnavailableError).cause).toMatchObject({ code: 'ECONNREFUSED' })
    await postgres.server.start()
    await addFile(40)
    const restarted = await start({ attempts: 10, initialDelayMs: 50, maxDelayMs: 500 }, true)
    await restarted.awaitTermination()
    expect(await written()).toEqual({ ids: range(160), rows: 160 })
  })
})
