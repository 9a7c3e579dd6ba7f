import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { runGroupedOnce } from '../support/groupedRun.js'
import {
  aggregate,
  IncompatibleCheckpointError,
  memorySource,
  migration,
  type Grouped,
} from '../../src/index.js'

type Sale = { user: string; amount: number }
const V1 = t.number
const V2 = t.type({ total: t.number })
const V3 = t.type({ total: t.number, n: t.number })
const m12 = migration({ from: 1, to: 2, codec: V1, migrate: (old) => ({ total: old }) })
const m23 = migration({ from: 2, to: 3, codec: V2, migrate: (old) => ({ total: old.total, n: -1 }) })

const v1 = () =>
  aggregate<Grouped<string, Sale>, number, number, 'stats'>({
    name: 'stats', version: 1, state: V1, zero: () => 0, add: (s, r) => s + r.amount, result: (s) => s,
  })
const v2 = () =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof V2>, number, 'stats'>({
    name: 'stats', version: 2, state: V2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }),
    result: (s) => s.total, migrations: [m12],
  })
const v3 = (migrations = [m12, m23]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof V3>, string, 'stats'>({
    name: 'stats', version: 3, state: V3, zero: () => ({ total: 0, n: 0 }),
    add: (s, r) => ({ total: s.total + r.amount, n: s.n + 1 }), result: (s) => `${s.total}/${s.n}`, migrations,
  })

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function checkpointDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-migrate-'))
  dirs.push(dir)
  return dir
}


describe('typed state migrations', () => {
  it('carries aggregate state v1 → v2 → v3 and continues with exact results', async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    await runGroupedOnce(dir, input, v1(), [{ user: 'a', amount: 5 }, { user: 'b', amount: 1 }])
    expect(await runGroupedOnce(dir, input, v2(), [{ user: 'a', amount: 2 }])).toEqual([{ key: 'a', stats: 7 }])
    expect(await runGroupedOnce(dir, input, v3(), [{ user: 'b', amount: 10 }])).toEqual([{ key: 'b', stats: '11/0' }])
    expect(await runGroupedOnce(dir, input, v3(), [{ user: 'a', amount: 1 }])).toEqual([{ key: 'a', stats: '8/0' }])
  })

  it.each([
    ['[1→2, 2→3]', [m12, m23]],
    ['[2→3, 1→2]', [m23, m12]],
  ])('restores a v1 checkpoint directly with a v3 query and migrations %s', async (_, migrations) => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    await runGroupedOnce(dir, input, v1(), [{ user: 'a', amount: 5 }, { user: 'b', amount: 1 }, { user: 'a', amount: 2 }])
    const rows = await runGroupedOnce(dir, input, v3(migrations), [{ user: 'a', amount: 1 }, { user: 'b', amount: 10 }, { user: 'c', amount: 4 }])
    // Migrated state: total kept, n = -1 (unknown); one more sale each makes n = 0; 'c' is new.
    expect(rows.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', stats: '8/0' },
      { key: 'b', stats: '11/0' },
      { key: 'c', stats: '4/1' },
    ])
  })

  it('rejects a missing migration step at start() naming the operator and versions', async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    await runGroupedOnce(dir, input, v1(), [{ user: 'a', amount: 5 }])
    const error = await runGroupedOnce(dir, input, v3([m23]), []).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as IncompatibleCheckpointError).reasons.join('\n')).toMatch(/'stats'.*from 1 to 3/)
  })

  it('rejects a lowered state version', async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    await runGroupedOnce(dir, input, v2(), [{ user: 'a', amount: 5 }])
    const error = await runGroupedOnce(dir, input, v1(), []).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as IncompatibleCheckpointError).reasons.join('\n')).toMatch(/version 2.*version 1.*cannot go down/)
  })
})
