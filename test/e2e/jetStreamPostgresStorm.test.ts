/**
 * Real-process crash storm from a partitioned JetStream source into PostgreSQL: a count per key in update mode runs
 * in a child process (`connectorCrashQuery.ts`), is killed with SIGKILL at least 20 times at random moments and
 * restarted on the same checkpoint while new messages keep arriving; the table must then hold the exact count of
 * every key. The seed (printed) fixes input and kill delays (`SRX_SIGKILL_SEED=<seed>` replays them). Each run
 * starts a Node process, so on a loaded machine a storm takes minutes: the timeout is generous on purpose.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { postgresTableDdl } from '../../src/index.js'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { startNats } from '../support/servers/nats.js'
import { startPostgres } from '../support/servers/postgres.js'
import { rowMaker, type StormRow } from './inputFiles.js'
import { runStorm, stormRandom, useStormCleanups } from './killLoop.js'

const script = join(import.meta.dirname, 'connectorCrashQuery.ts')
const cleanup = useStormCleanups()

describe('a connector query killed with SIGKILL at random moments and restarted until it drains', () => {
  it('jetStream (3 partitions) → count per key (update) → postgresSink ends with the exact count of every key', async () => {
    const random = stormRandom()
    const [nats, postgres] = await Promise.all([startNats(), startPostgres()])
    cleanup(() => nats.close(), () => postgres.close())
    const client = await natsTestClient(nats.url)
    cleanup(() => client.close())
    await client.addStream('IN', ['in.*'])
    const db = new pg.Client({ connectionString: postgres.connectionString })
    await db.connect()
    cleanup(() => db.end())
    await db.query(postgresTableDdl({ table: 'counts', codec: t.type({ key: t.string, count: t.Int }), key: ['key'] }))
    const root = await mkdtemp(join(tmpdir(), 'srx-storm-nats-pg-'))
    cleanup(() => rm(root, { recursive: true, force: true }))
    const makeRows = rowMaker(random.next)
    const input: StormRow[] = []
    const addInput = async (n: number) => {
      const rows = makeRows(n)
      for (const r of rows) await client.publish(`in.${Math.floor(random.next() * 3)}`, [r])
      input.push(...rows)
    }
    await addInput(1200)
    await runStorm(
      'jetstream → postgres',
      {
        script,
        args: ['jetstream-postgres', nats.url, 'IN', 'in', postgres.connectionString, join(root, 'checkpoint')],
        minKills: 20,
        topUp: () => addInput(400),
      },
      random,
      () => input.length,
    )
    const expected: Record<string, number> = {}
    for (const r of input) expected[r.key] = (expected[r.key] ?? 0) + 1
    const rows = (await db.query('SELECT key, count FROM counts')).rows as { key: string; count: string | number }[]
    expect(Object.fromEntries(rows.map((r) => [r.key, Number(r.count)]))).toEqual(expected)
  }, 480_000)
})
