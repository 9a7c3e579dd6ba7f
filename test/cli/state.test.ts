import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { operatorNamed, readCheckpointSummary } from '../../src/checkpoint/reader.js'
import { runCli } from '../../src/cli/cli.js'
import { CliError } from '../../src/errors.js'
import type { StateRow } from '../../src/cli/state.js'
import { count, createSession, groupBy, mapGroupsWithState, memorySink, memorySource, nodeFs } from '../../src/index.js'
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { captureIo, countQuery, users, runStateCommand } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-state-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const state = (...args: string[]) => runStateCommand(dir, ...args)

async function clicks() {
  const query = countQuery(dir)
  const q = await query.start(4)
  query.add(users(10, 3))
  await q.processAllAvailable()
  query.add(users(3))
  await q.processAllAvailable()
  await q.stop()
}

describe('structured-rx state', () => {
  it('prints every state row of the last committed batch as JSON lines, sorted by partition and key', async () => {
    await clicks()
    const { code, rows, err } = await state('--operator', 'count')
    expect(code).toBe(0)
    expect(rows).toHaveLength(10)
    const sorted = rows.slice().sort((a, b) => a.partition - b.partition || String(a.key).localeCompare(String(b.key)))
    expect(rows).toEqual(sorted)
    for (const row of rows) {
      expect(row.partition).toBe(partitionOf(row.key as string, 4))
      expect(row.state).toBe(['u0', 'u1', 'u2'].includes(row.key as string) ? 4 : 3)
      expect(Object.keys(row)).toEqual(['partition', 'key', 'state'])
    }
    expect(err).toBe('# operator count (aggregate): key codec string, state codec number, state version 1; batch 1, 4 partitions\n')
  })

  it('keeps to one partition with --partition and stops after --limit rows', async () => {
    await clicks()
    const all = (await state('--operator', 'count')).rows
    const busiest = [0, 1, 2, 3].sort((a, b) => all.filter((r) => r.partition === b).length - all.filter((r) => r.partition === a).length)[0]!
    const one = await state('--operator', 'count', '--partition', String(busiest))
    expect(one.rows).toEqual(all.filter((r) => r.partition === busiest))
    expect((await state('--operator', 'count', '--limit', '3')).rows).toEqual(all.slice(0, 3))
  })

  it('names the known operators when the operator is unknown', async () => {
    await clicks()
    const { code, err } = await state('--operator', 'sum')
    expect(code).toBe(1)
    expect(err).toBe("structured-rx: unknown operator 'sum'; known operators: count\n")
  })

  it('says a checkpoint of a stateless query has no operators, and lists every operator of one with several', async () => {
    const input = memorySource<{ user: string }>()
    const stateless = await createSession()
      .readStream(input.source)
      .writeStream({ outputMode: 'append', checkpointLocation: dir, sink: memorySink() })
      .start()
    input.addData([{ user: 'a' }])
    await stateless.processAllAvailable()
    await stateless.stop()
    expect(await state('--operator', 'count')).toMatchObject({
      code: 1,
      err: "structured-rx: unknown operator 'count': this checkpoint has no stateful operators\n",
    })
    await rm(dir, { recursive: true, force: true })
    await clicks()
    const [op] = (await readCheckpointSummary(nodeFs, dir)).metadata.fingerprint.statefulOperators
    expect(() => operatorNamed([op!, { ...op!, name: 'dedup' }], 'sum')).toThrow(
      new CliError("unknown operator 'sum'; known operators: count, dedup"),
    )
  })

  it('rejects a partition the checkpoint does not have', async () => {
    await clicks()
    const { code, err } = await state('--operator', 'count', '--partition', '4')
    expect(code).toBe(2)
    expect(err).toContain("structured-rx: --partition must be below the checkpoint's 4 shuffle partitions, got 4\n")
  })

  it('shows windows and timeouts in their encoded form', async () => {
    const input = memorySource<{ user: string; ts: number }>()
    const q1 = await createSession({ shufflePartitions: 2 })
      .readStream(input.source)
      .pipe(groupBy((e: { user: string; ts: number }) => e.user, t.string, { window: { time: (e) => e.ts, size: 1000 } }), count())
      .writeStream({ outputMode: 'update', checkpointLocation: dir, sink: memorySink() })
      .start()
    input.addData([{ user: 'a', ts: 1500 }])
    await q1.processAllAvailable()
    await q1.stop()
    expect((await state('--operator', 'count')).rows).toEqual([{ partition: expect.any(Number), key: 'a', window: { start: 1000, end: 2000 }, state: 1 }])

    const sessions = join(dir, 'sessions')
    const visits = memorySource<{ user: string }>()
    const q2 = await createSession({ shufflePartitions: 2 })
      .readStream(visits.source)
      .pipe(
        groupBy((v: { user: string }) => ({ id: v.user }), t.type({ id: t.string })),
        mapGroupsWithState({
          name: 'visits',
          version: 1,
          state: t.type({ n: t.number }),
          timeout: 'processingTime',
          update: (_key, rows, s) => {
            const next = { n: (s.getOption()?.n ?? 0) + rows.length }
            s.update(next)
            s.setTimeoutDuration('1 hour')
            return next.n
          },
        }),
      )
      .writeStream({ outputMode: 'update', checkpointLocation: sessions, sink: memorySink() })
      .start()
    visits.addData([{ user: 'x' }, { user: 'x' }])
    await q2.processAllAvailable()
    await q2.stop()
    const io = captureIo()
    expect(await runCli(['state', sessions, '--operator', 'visits'], io)).toBe(0)
    const [row] = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as StateRow)
    expect(row).toMatchObject({ key: { id: 'x' }, state: { n: 2 }, timeoutAt: expect.any(Number) })
    expect(row!.partition).toBe(partitionOf(keyIdOf({ id: 'x' }), 2))
    expect(io.stderr()).toContain('# operator visits (mapGroupsWithState): key codec { id: string }, state codec { n: number }, state version 1;')
  })
})
