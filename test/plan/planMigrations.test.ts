/**
 * The migration chain a restarted query uses for older state (`migrationPath`, exported by structured-rx/testing),
 * and the refusal, before any batch runs, of a version rise that no chain of the given steps covers.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { aggregate, type ErasedMigration, type Grouped, IncompatibleCheckpointError, memorySource, migration } from '../../src/index.js'
import { migrationPath } from '../../src/testing.js'
import { runGroupedOnce } from '../support/groupedRun.js'

type Sale = { user: string; amount: number }
const V1 = t.number
const V2 = t.type({ total: t.number })
const V3 = t.type({ total: t.number, n: t.number })
const m12 = migration({ from: 1, to: 2, codec: V1, migrate: (old) => ({ total: old }) })
const m23 = migration({ from: 2, to: 3, codec: V2, migrate: (old) => ({ total: old.total, n: 0 }) })
const m34 = migration({ from: 3, to: 4, codec: V3, migrate: (old) => old })

const v1 = () =>
  aggregate<Grouped<string, Sale>, number, number, 'stats'>({
    name: 'stats', version: 1, state: V1, zero: () => 0, add: (s, r) => s + r.amount, result: (s) => s,
  })
const v2 = (migrations: readonly ErasedMigration[]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof V2>, number, 'stats'>({
    name: 'stats', version: 2, state: V2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }),
    result: (s) => s.total, migrations,
  })
const v3 = (migrations: readonly ErasedMigration[]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof V3>, number, 'stats'>({
    name: 'stats', version: 3, state: V3, zero: () => ({ total: 0, n: 0 }),
    add: (s, r) => ({ total: s.total + r.amount, n: s.n + 1 }), result: (s) => s.total, migrations,
  })

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** The reasons a query with `next` gives for refusing the checkpoint a `stats` v1 query wrote. */
async function refusalAfterV1(next: ReturnType<typeof v2> | ReturnType<typeof v3>): Promise<readonly string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-plan-migrations-'))
  dirs.push(dir)
  const input = memorySource<Sale>()
  await runGroupedOnce(dir, input, v1(), [{ user: 'a', amount: 5 }])
  const error = await runGroupedOnce(dir, input, next as never, [{ user: 'a', amount: 1 }]).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(IncompatibleCheckpointError)
  return (error as IncompatibleCheckpointError).reasons
}

describe('migrationPath', () => {
  it('never takes a chain through a version above the target, even when it is the only one', () => {
    const m13 = migration({ from: 1, to: 3, codec: V1, migrate: (old) => ({ total: old, n: 0 }) })
    const m32 = migration({ from: 3, to: 2, codec: V3, migrate: (old) => ({ total: old.total }) })
    expect(migrationPath([m13, m32], 1, 2)).toBeUndefined()
    expect(migrationPath([m13, m32, m12], 1, 2)).toEqual([m12])
  })

  it('needs no step when the version did not change, whatever steps are given', () => {
    expect(migrationPath([m12, m23], 2, 2)).toEqual([])
    expect(migrationPath([], 1, 1)).toEqual([])
  })

  it('finds no chain when the step from the old version is missing, even if a step reaches the new one', () => {
    expect(migrationPath([m23], 1, 3)).toBeUndefined()
    expect(migrationPath([m23, m34], 1, 4)).toBeUndefined()
    expect(migrationPath([m12, m34], 1, 4)).toBeUndefined()
  })
})

describe('a state version rise without a chain of migrations', () => {
  it('is refused at start(), listing the steps given and saying what to add', async () => {
    expect(await refusalAfterV1(v3([m23, m34]))).toEqual([
      "operator 'stats': state version rose from 1 to 3 but no chain of migrations leads from 1 to 3 (migrations given: " +
        '2→3, 3→4). Add the missing step(s) { from, to, codec, migrate }, or use a new checkpoint location',
    ])
  })

  it("says 'none' when the query gives no migrations at all", async () => {
    expect(await refusalAfterV1(v2([]))).toEqual([
      "operator 'stats': state version rose from 1 to 2 but no chain of migrations leads from 1 to 2 (migrations given: " +
        'none). Add the missing step(s) { from, to, codec, migrate }, or use a new checkpoint location',
    ])
  })
})
