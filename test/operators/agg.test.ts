import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  agg, aggregate, avg, count, type ErasedMigration, type Grouped, groupBy, IncompatibleCheckpointError, map, max, memorySource, migration, min,
  type Operator, sum,
} from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { runGroupedOnce } from '../support/groupedRun.js'
import { useTempDirs } from '../support/tempDirs.js'
import { emitted } from './reference.js'

interface Reading {
  readonly device: string
  readonly x: number
}
type G = { key: string; value: Reading }
const rows: Reading[] = [{ device: 'd', x: 2 }, { device: 'd', x: 6 }]

describe('agg', () => {
  it('emits one row per input row with a column per named aggregation', () => {
    const op: Operator<G, object> = agg({ n: count(), total: sum((r) => r.x), lo: min((r) => r.x), hi: max((r) => r.x), mean: avg((r) => r.x) })
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), op)).toEqual([
      { key: 'd', n: 1, total: 2, lo: 2, hi: 2, mean: 2 },
      { key: 'd', n: 2, total: 8, lo: 2, hi: 6, mean: 4 },
    ])
  })

  it('names a custom aggregate column by its field in agg, not by the aggregate name', () => {
    const last = aggregate<G, number, number, 'last'>({ name: 'last', version: 1, state: t.number, zero: () => 0, add: (_s, r) => r.x, result: (s) => s })
    expect(emitted(rows, groupBy((r: Reading) => r.device, t.string), agg({ latest: last })).at(-1)).toEqual({ key: 'd', latest: 6 })
  })

  it('keeps one state field per column', () => {
    const op: Operator<G, object> = agg({ n: count(), total: sum((r) => r.x) })
    const node = op[PLAN]
    if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(node.aggregator.zero()).toEqual({ n: 0, total: 0 })
    expect(node.aggregator.state.is({ n: 1, total: 2 })).toBe(true)
  })

  it('rejects an empty column record with a TypeError', () => {
    expect(() => agg({})).toThrow(TypeError)
  })

  it('rejects a column that is not a single aggregation with a TypeError naming it', () => {
    const notAnAggregation = map((g: G) => g) as never
    expect(() => agg({ odd: notAnAggregation })).toThrow(/column 'odd'/)
  })

  it('says what an empty column record lacks, and names a missing (undefined or null) column as not an aggregation', () => {
    expect(thrown(() => agg({}))).toEqual(new TypeError('agg: give at least one column, e.g. agg({ n: count() })'))
    for (const missing of [undefined, null]) {
      const error = thrown(() => agg({ n: count(), odd: missing as never }))
      expect(error).toBeInstanceOf(TypeError)
      expect(error).toEqual(new TypeError("agg: column 'odd' must be a single aggregation such as count(), sum(f) or aggregate({...})"))
    }
  })
})

function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('did not throw')
}

describe('agg state across a restart from the checkpoint', () => {
  type Sale = { user: string; amount: number }
  type S = Grouped<string, Sale>
  const V2 = t.type({ total: t.number })
  const v1 = () => aggregate<S, number, number, 'stats'>({ name: 'stats', version: 1, state: t.number, zero: () => 0, add: (s, r) => s + r.amount, result: (s) => s })
  const v2 = (migrations: readonly ErasedMigration[]) =>
    aggregate<S, t.TypeOf<typeof V2>, number, 'stats'>({
      name: 'stats', version: 2, state: V2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }), result: (s) => s.total, migrations,
    })
  const m12 = migration({ from: 1, to: 2, codec: t.number, migrate: (old) => ({ total: old }) })
  const refusal = (from: number, to: number) =>
    `operator 'agg': state version rose from ${from} to ${to} but no chain of migrations leads from ${from} to ${to} (migrations given: ` +
    'none). Add the missing step(s) { from, to, codec, migrate }, or use a new checkpoint location'

  const tempDir = useTempDirs()
  const checkpointDir = () => tempDir('agg-restart')
  async function reasons(run: Promise<unknown>): Promise<readonly string[]> {
    const error = await run.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    return (error as IncompatibleCheckpointError).reasons
  }

  it("with one column, keeps that column's version and migrations: a column raised to version 2 carries its version-1 state on", async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    expect(await runGroupedOnce(dir, input, agg({ total: v1() }), [{ user: 'a', amount: 5 }])).toEqual([{ key: 'a', total: 5 }])
    expect(await runGroupedOnce(dir, input, agg({ total: v2([m12]) }), [{ user: 'a', amount: 1 }])).toEqual([{ key: 'a', total: 6 }])
  })

  it('with one column and no migrations anywhere, a raised version is refused, saying no migrations were given', async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    await runGroupedOnce(dir, input, agg({ n: count() }), [{ user: 'a', amount: 5 }])
    expect(await reasons(runGroupedOnce(dir, input, agg({ n: count() }, { version: 2 }), [{ user: 'a', amount: 1 }]))).toEqual([refusal(1, 2)])
  })

  it("with several columns, uses only the record's migrations from options, never a column's own", async () => {
    const dir = await checkpointDir()
    const input = memorySource<Sale>()
    expect(await runGroupedOnce(dir, input, agg({ total: v1(), n: count() }), [{ user: 'a', amount: 5 }])).toEqual([{ key: 'a', total: 5, n: 1 }])
    // The first column's step 1→2 migrates that column's state, not the record: it does not upgrade the record.
    const raised = agg({ total: v2([m12]), n: count() }, { version: 2 })
    expect(await reasons(runGroupedOnce(dir, input, raised, [{ user: 'a', amount: 1 }]))).toEqual([refusal(1, 2)])
    const record = migration({
      from: 1, to: 2, codec: t.type({ total: t.number, n: t.number }), migrate: (old) => ({ total: { total: old.total }, n: old.n }),
    })
    const migrated = agg({ total: v2([m12]), n: count() }, { version: 2, migrations: [record] })
    expect(await runGroupedOnce(dir, input, migrated, [{ user: 'a', amount: 1 }])).toEqual([{ key: 'a', total: 6, n: 2 }])
  })
})
