/**
 * The compatibility matrix of docs/upgrading.md, one test per row: query A runs on a checkpoint, stops, and
 * query B starts on the same checkpoint and the same source. An allowed change continues with exact results; a
 * refused one fails at start() with IncompatibleCheckpointError whose reasons name the operator, the old and the new
 * and what to do.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  agg,
  aggregate,
  count,
  createSession,
  dropDuplicates,
  filter,
  foreachBatch,
  groupBy,
  type Grouped,
  jsonFiles,
  map,
  mapGroupsWithState,
  max,
  memorySource,
  migration,
  type Operator,
  rateSource,
  type Stream,
  sum,
  trigger,
  withWatermark,
} from '../../src/index.js'
import type { AnyMigration } from '../../laws/index.js'
import { CURRENT_FORMAT_VERSION } from '../../src/durable/format.js'
import { IncompatibleCheckpointError } from '../../src/errors.js'
import { checkCompatibility } from '../../src/plan/compatibility.js'
import { compilePlan } from '../../src/plan/compile.js'
import { fingerprintOf } from '../../src/plan/fingerprint.js'
import { useTempDir } from '../checkpoint/tempDir.js'
import { at, deploy, refusal, type Sale, sale, sorted } from '../fixtures/upgradeSupport.js'

const checkpoint = useTempDir()
const location = () => join(checkpoint(), 'checkpoint')

const session = createSession({ shufflePartitions: 4 })
/** What a call throws (fails the test if it returns). */
const rejectionOfCall = (call: () => unknown): unknown => {
  try {
    call()
  } catch (e) {
    return e
  }
  throw new Error('expected the call to throw')
}
const byUser = groupBy((r: Sale) => r.user, t.string)
const sumByUser = (s: Stream<Sale>) => s.pipe(byUser, sum((r) => r.amount))
const countByUser = (s: Stream<Sale>) => s.pipe(byUser, count())
const tenSecondWindows = { window: { time: (r: Sale) => r.ts, size: '10 seconds' } } as const

/** A custom aggregation whose state versions the migration rows use: v1 a number, v2 `{ total }`. */
const V2 = t.type({ total: t.number })
const statsV1 = () =>
  aggregate<Grouped<string, Sale>, number, number, 'stats'>({
    name: 'stats', version: 1, state: t.number, zero: () => 0, add: (s, r) => s + r.amount, result: (s) => s,
  })
const statsV2 = (migrations: readonly AnyMigration[] = [migration({ from: 1, to: 2, codec: t.number, migrate: (old) => ({ total: old }) })]) =>
  aggregate<Grouped<string, Sale>, t.TypeOf<typeof V2>, number, 'stats'>({
    name: 'stats', version: 2, state: V2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }),
    result: (s) => s.total, migrations,
  })
const stats = <R>(op: Operator<Grouped<string, Sale>, R>) => (s: Stream<Sale>) => s.pipe(byUser, op)

describe('allowed changes continue on the checkpoint with exact results', () => {
  it('a changed body of a stateless function (a bug fix in a map) applies to new rows; state keeps the old ones', async () => {
    const input = memorySource<Sale>()
    const buggy = (s: Stream<Sale>) => s.pipe(map((r) => ({ ...r, amount: r.amount * 100 })), byUser, sum((r) => r.amount))
    const fixed = (s: Stream<Sale>) => s.pipe(map((r) => ({ ...r })), byUser, sum((r) => r.amount))
    const a = await deploy(location(), input, { build: buggy, outputMode: 'update' }, [[sale('a', 1), sale('b', 2)]])
    expect(sorted(a.rows)).toEqual([{ key: 'a', sum: 100 }, { key: 'b', sum: 200 }])
    const b = await deploy(location(), input, { build: fixed, outputMode: 'update' }, [[sale('a', 3)]])
    expect(b.rows).toEqual([{ key: 'a', sum: 103 }])
  })

  it('an added stateless operator (a filter) applies from the next batch', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: sumByUser, outputMode: 'update' }, [[sale('a', 1), sale('a', -5)]])
    const positive = (s: Stream<Sale>) => s.pipe(filter((r) => r.amount > 0), byUser, sum((r) => r.amount))
    const b = await deploy(location(), input, { build: positive, outputMode: 'update' }, [[sale('a', -1), sale('a', 2), sale('b', -3)]])
    expect(b.rows).toEqual([{ key: 'a', sum: -2 }])
  })

  it('a removed stateless operator (a filter) stops applying from the next batch', async () => {
    const input = memorySource<Sale>()
    const positive = (s: Stream<Sale>) => s.pipe(filter((r) => r.amount > 0), byUser, sum((r) => r.amount))
    await deploy(location(), input, { build: positive, outputMode: 'update' }, [[sale('a', 1), sale('a', -5)]])
    const b = await deploy(location(), input, { build: sumByUser, outputMode: 'update' }, [[sale('a', -1), sale('b', -3)]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', sum: 0 }, { key: 'b', sum: -3 }])
  })

  it('a changed trigger (default → processingTime, then availableNow)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const b = await deploy(location(), input, { build: countByUser, outputMode: 'update', trigger: trigger.processingTime(20) }, [[sale('a', 1)]])
    expect(b.rows).toEqual([{ key: 'a', count: 2 }])
    const c = await deploy(location(), input, { build: countByUser, outputMode: 'update', trigger: trigger.availableNow() }, [
      [sale('a', 1), sale('b', 1)],
    ])
    expect(sorted(c.rows)).toEqual([{ key: 'a', count: 3 }, { key: 'b', count: 1 }])
    expect(c.progress.map((p) => p.batchId)).toEqual([2])
  })

  it('a changed rate limit (maxRowsPerTrigger on the replayable source) splits the rest into smaller batches', async () => {
    const first = memorySource<Sale>()
    await deploy(location(), first, { build: countByUser, outputMode: 'update' }, [[sale('a', 1), sale('b', 1)]])
    // The next process holds the same replayable data: offsets are row counts, so the new source resumes at 2.
    const limited = memorySource<Sale>({ maxRowsPerTrigger: 1 })
    limited.addData([sale('a', 1), sale('b', 1)])
    const b = await deploy(location(), limited, { build: countByUser, outputMode: 'update' }, [[sale('a', 1), sale('a', 1), sale('c', 1)]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', count: 3 }, { key: 'c', count: 1 }])
    expect(b.progress.map((p) => [p.batchId, p.numInputRows])).toEqual([[1, 1], [2, 1], [3, 1]])
  })

  it('a changed rate limit of a jsonFiles source (maxFilesPerTrigger) keeps every file exactly once', async () => {
    const dir = join(checkpoint(), 'input')
    await mkdir(dir)
    const put = (name: string, rows: Sale[]) => writeFile(join(dir, name), rows.map((r) => JSON.stringify(r)).join('\n'))
    const Sale = t.type({ user: t.string, amount: t.number, ts: t.number })
    const input = memorySource<Sale>()
    await put('1.json', [sale('a', 1), sale('b', 2)])
    const a = await deploy(location(), input, { build: sumByUser, outputMode: 'update', source: jsonFiles(dir, { codec: Sale }) }, [[]])
    expect(sorted(a.rows)).toEqual([{ key: 'a', sum: 1 }, { key: 'b', sum: 2 }])
    await put('2.json', [sale('a', 10)])
    await put('3.json', [sale('b', 20), sale('c', 5)])
    const b = await deploy(location(), input, {
      build: sumByUser, outputMode: 'update', source: jsonFiles(dir, { codec: Sale, maxFilesPerTrigger: 1 }),
    }, [[]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', sum: 11 }, { key: 'b', sum: 22 }, { key: 'c', sum: 5 }])
    expect(b.progress.map((p) => p.numInputRows)).toEqual([1, 2])
  })

  it('a changed sink (memorySink → foreachBatch) receives the following batch ids and exact rows', async () => {
    const input = memorySource<Sale>()
    const a = await deploy(location(), input, { build: sumByUser, outputMode: 'update' }, [[sale('a', 1)], [sale('b', 2)]])
    expect(a.progress.map((p) => p.batchId)).toEqual([0, 1])
    const delivered: [number, unknown[]][] = []
    await deploy(location(), input, {
      build: sumByUser, outputMode: 'update', sink: foreachBatch((rows, batchId) => void delivered.push([batchId, rows])),
    }, [[sale('a', 4)]])
    expect(delivered).toEqual([[2, [{ key: 'a', sum: 5 }]]])
  })

  it('output mode update → complete for an aggregation without windows: the complete table includes the old groups', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1), sale('b', 1)]])
    const b = await deploy(location(), input, { build: countByUser, outputMode: 'complete' }, [[sale('a', 1)]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', count: 2 }, { key: 'b', count: 1 }])
  })

  it('a changed watermark delay governs from the restart on (windows close later with a longer delay)', async () => {
    const input = memorySource<Sale>()
    const windowed = (delay: string) => (s: Stream<Sale>) =>
      s.pipe(withWatermark((r) => r.ts, delay), groupBy((r) => r.user, t.string, tenSecondWindows), count())
    // Watermark after A: 12 s − 5 s = 7 s, so no window has closed yet.
    const a = await deploy(location(), input, { build: windowed('5 seconds'), outputMode: 'append' }, [[sale('a', 1, 1), sale('a', 1, 12)]])
    expect(a.rows).toEqual([])
    // With 10 s, the row at 25 s moves the watermark to 15 s: [0, 10) closes, [10, 20) does not (with 5 s it would).
    const input2 = input
    const longer = { build: windowed('10 seconds'), outputMode: 'append' } as const
    const b = await deploy(location(), input2, longer, [[sale('a', 1, 25)]])
    expect(b.rows).toEqual([{ key: 'a', window: { start: at(0), end: at(10) }, count: 1 }])
    const c = await deploy(location(), input2, longer, [[sale('a', 1, 41)]])
    expect(c.rows).toEqual([
      { key: 'a', window: { start: at(10), end: at(20) }, count: 1 },
      { key: 'a', window: { start: at(20), end: at(30) }, count: 1 },
    ])
  })

  it('a different shufflePartitions of the session is ignored with a warning; the checkpoint keeps its own', async () => {
    const input = memorySource<Sale>()
    const users = ['a', 'b', 'c', 'd', 'e', 'f']
    await deploy(location(), input, { build: countByUser, outputMode: 'update', session: { shufflePartitions: 4 } }, [
      users.map((u) => sale(u, 1)),
    ])
    const warnings: string[] = []
    const b = await deploy(location(), input, {
      build: countByUser, outputMode: 'update', session: { shufflePartitions: 2, warn: (m) => void warnings.push(m) },
    }, [users.map((u) => sale(u, 1))])
    expect(sorted(b.rows)).toEqual(users.map((key) => ({ key, count: 2 })))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/has 4 shuffle partitions; the session's setting 2 is ignored.*rescale/)
  })

  it('a renamed memorySource (its name option) continues: only the directory of a jsonFiles source is its identity', async () => {
    const first = memorySource<Sale>({ name: 'sales' })
    await deploy(location(), first, { build: countByUser, outputMode: 'update' }, [[sale('a', 1), sale('b', 1)]])
    const renamed = memorySource<Sale>({ name: 'orders' })
    renamed.addData([sale('a', 1), sale('b', 1)])
    const b = await deploy(location(), renamed, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    expect(b.rows).toEqual([{ key: 'a', count: 2 }])
  })

  it('a mapGroupsWithState timeout added (none → processingTime), kept, then removed again: state continues each time', async () => {
    const input = memorySource<Sale>()
    const visits = (timeout: 'none' | 'processingTime') => (s: Stream<Sale>) =>
      s.pipe(byUser, mapGroupsWithState({
        name: 'visits', version: 1, state: t.number, timeout,
        update: (_u, rows: Sale[], state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return state.get()
        },
      }))
    await deploy(location(), input, { build: visits('none'), outputMode: 'update' }, [[sale('a', 1)]])
    const added = await deploy(location(), input, { build: visits('processingTime'), outputMode: 'update' }, [[sale('a', 1)]])
    expect(added.rows).toEqual([{ key: 'a', visits: 2 }])
    const kept = await deploy(location(), input, { build: visits('processingTime'), outputMode: 'update' }, [[sale('a', 1)]])
    expect(kept.rows).toEqual([{ key: 'a', visits: 3 }])
    const removed = await deploy(location(), input, { build: visits('none'), outputMode: 'update' }, [[sale('a', 1)]])
    expect(removed.rows).toEqual([{ key: 'a', visits: 4 }])
  })

  it('output mode append → update of a windowed aggregation with a watermark: open windows keep counting', async () => {
    const input = memorySource<Sale>()
    const windowed = (s: Stream<Sale>) =>
      s.pipe(withWatermark((r) => r.ts, '5 seconds'), groupBy((r) => r.user, t.string, tenSecondWindows), count())
    // Watermark after A: 12 s − 5 s = 7 s; [10, 20) is open and holds one row.
    await deploy(location(), input, { build: windowed, outputMode: 'append' }, [[sale('a', 1, 1), sale('a', 1, 12)]])
    const b = await deploy(location(), input, { build: windowed, outputMode: 'update' }, [[sale('a', 1, 15)]])
    expect(b.rows).toEqual([{ key: 'a', window: { start: at(10), end: at(20) }, count: 2 }])
  })

  it('a complete-mode windowed aggregation with a watermark restarts unchanged (complete mode evicts nothing)', async () => {
    const input = memorySource<Sale>()
    const windowed = (s: Stream<Sale>) =>
      s.pipe(withWatermark((r) => r.ts, '5 seconds'), groupBy((r) => r.user, t.string, tenSecondWindows), count())
    await deploy(location(), input, { build: windowed, outputMode: 'complete' }, [[sale('a', 1, 1)], [sale('a', 1, 30)]])
    const b = await deploy(location(), input, { build: windowed, outputMode: 'complete' }, [[sale('a', 1, 2)]])
    expect(sorted(b.rows)).toEqual(sorted([
      { key: 'a', window: { start: at(0), end: at(10) }, count: 2 },
      { key: 'a', window: { start: at(30), end: at(40) }, count: 1 },
    ]))
  })

  it('output mode update → complete of a windowed aggregation without a watermark: the complete table includes the old windows', async () => {
    const input = memorySource<Sale>()
    const windowed = (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user, t.string, tenSecondWindows), count())
    await deploy(location(), input, { build: windowed, outputMode: 'update' }, [[sale('a', 1, 1), sale('b', 1, 12)]])
    const b = await deploy(location(), input, { build: windowed, outputMode: 'complete' }, [[sale('a', 1, 3)]])
    expect(sorted(b.rows)).toEqual(sorted([
      { key: 'a', window: { start: at(0), end: at(10) }, count: 2 },
      { key: 'b', window: { start: at(10), end: at(20) }, count: 1 },
    ]))
  })

  it('output mode update → complete of an aggregation without windows, with a watermark: nothing was evicted', async () => {
    const input = memorySource<Sale>()
    const counted = (s: Stream<Sale>) => s.pipe(withWatermark((r) => r.ts, '5 seconds'), byUser, count())
    await deploy(location(), input, { build: counted, outputMode: 'update' }, [[sale('a', 1, 1), sale('b', 1, 1)], [sale('c', 1, 60)]])
    const b = await deploy(location(), input, { build: counted, outputMode: 'complete' }, [[sale('a', 1, 61)]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', count: 2 }, { key: 'b', count: 1 }, { key: 'c', count: 1 }])
  })
})

describe('typed state migrations', () => {
  it('a raised version with a migration restores through it and continues exactly', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 5), sale('b', 1)], [sale('a', 1)]])
    const b = await deploy(location(), input, { build: stats(statsV2()), outputMode: 'update' }, [[sale('a', 2)], [sale('b', 3)]])
    expect(sorted(b.rows)).toEqual([{ key: 'a', stats: 8 }, { key: 'b', stats: 4 }])
  })

  it('agg with a column added, its version raised and a migration of its record, continues exactly', async () => {
    const input = memorySource<Sale>()
    const v1 = (s: Stream<Sale>) => s.pipe(byUser, agg({ n: count(), total: sum((r: Sale) => r.amount) }))
    const v2 = (s: Stream<Sale>) =>
      s.pipe(byUser, agg({ n: count(), total: sum((r: Sale) => r.amount), largest: max((r: Sale) => r.amount) }, {
        version: 2,
        migrations: [migration({ from: 1, to: 2, codec: t.type({ n: t.number, total: t.number }), migrate: (old) => ({ ...old, largest: null }) })],
      }))
    await deploy(location(), input, { build: v1, outputMode: 'update' }, [[sale('a', 5), sale('b', 1)]])
    const b = await deploy(location(), input, { build: v2, outputMode: 'update' }, [[sale('a', 2)], [sale('c', 3)]])
    expect(sorted(b.rows)).toEqual([
      { key: 'a', n: 2, total: 7, largest: 2 },
      { key: 'c', n: 1, total: 3, largest: 3 },
    ])
  })

  it('after the first batch of the new version, state is persisted at that version and the old step is no longer needed', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 5)]])
    await deploy(location(), input, { build: stats(statsV2()), outputMode: 'update' }, [[sale('b', 1)]])
    const c = await deploy(location(), input, { build: stats(statsV2([])), outputMode: 'update' }, [[sale('a', 1)]])
    expect(c.rows).toEqual([{ key: 'a', stats: 6 }])
  })

  it('a rollback after the upgraded query failed in its first batch re-runs that batch on the old version, and later restarts work', async () => {
    const input = memorySource<Sale>()
    // Batch 2 is not a snapshot batch of the old version; the upgraded attempt wrote a snapshot (its fingerprint changed).
    const session = { snapshotInterval: 10 }
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update', session }, [[sale('a', 1)], [sale('a', 2)]])
    const sinkDown = foreachBatch(() => {
      throw new Error('sink down')
    })
    await expect(
      deploy(location(), input, { build: stats(statsV2()), outputMode: 'update', session, sink: sinkDown }, [[sale('a', 3)]]),
    ).rejects.toThrow(/sink down/)
    const rerun = await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update', session }, [[]])
    expect(rerun.progress.map((p) => p.batchId)).toEqual([2])
    expect(rerun.rows).toEqual([{ key: 'a', stats: 6 }])
    const next = await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update', session }, [[sale('a', 4)]])
    expect(next.rows).toEqual([{ key: 'a', stats: 10 }])
  })

  it('mapGroupsWithState v1 → v2 restores through its migration and continues exactly', async () => {
    const input = memorySource<Sale>()
    const V2State = t.type({ total: t.number, largest: t.union([t.number, t.null]) })
    const v1 = (s: Stream<Sale>) =>
      s.pipe(byUser, mapGroupsWithState({
        name: 'spend', version: 1, state: t.number,
        update: (_user, rows: Sale[], state) => {
          const total = (state.getOption() ?? 0) + rows.reduce((n, r) => n + r.amount, 0)
          state.update(total)
          return total
        },
      }))
    const v2 = (s: Stream<Sale>) =>
      s.pipe(byUser, mapGroupsWithState({
        name: 'spend', version: 2, state: V2State,
        // Old state knew no largest sale: it starts unknown (null) and is tracked from the upgrade on.
        migrations: [migration({ from: 1, to: 2, codec: t.number, migrate: (total) => ({ total, largest: null }) })],
        update: (_user, rows: Sale[], state) => {
          const old = state.getOption() ?? { total: 0, largest: null }
          const next = rows.reduce((s, r) => ({ total: s.total + r.amount, largest: Math.max(s.largest ?? -Infinity, r.amount) }), old)
          state.update(next)
          return next
        },
      }))
    await deploy(location(), input, { build: v1, outputMode: 'update' }, [[sale('a', 5), sale('b', 1)], [sale('a', 7)]])
    const b = await deploy(location(), input, { build: v2, outputMode: 'update' }, [[sale('a', 2), sale('a', 1)], [sale('c', 4)]])
    expect(sorted(b.rows)).toEqual([
      { key: 'a', spend: { total: 15, largest: 2 } },
      { key: 'c', spend: { total: 4, largest: 4 } },
    ])
  })

  it('old state that the migration codec does not decode is refused at start(), naming operator, versions and file', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 5)]])
    const wrongCodec = [migration({ from: 1, to: 2, codec: t.type({ n: t.number }), migrate: (old) => ({ total: old.n }) })]
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV2(wrongCodec)), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'stats': state written at version 1 in .*state\/stats\/0\.delta cannot be migrated to version 2/)
    expect(reasons).toMatch(/does not decode as version 1 \(\{ n: number \}\): expected \{ n: number \}, got 5\. /)
    expect(reasons).toMatch(/Fix the migration, or start from a new checkpoint location/)
  })

  it('a migration whose result does not fit the current state codec is refused at start()', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 5)]])
    const wrongResult = [migration({ from: 1, to: 2, codec: t.number, migrate: (old) => ({ sum: old }) as never })]
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV2(wrongResult)), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'stats'.*version 1.*version 2.*does not match the current state codec \{ total: number \}/)
  })

  it('old state that the migration codec does not decode is refused naming the field that does not decode', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV2()), outputMode: 'update' }, [[sale('a', 5)]])
    const V3 = t.type({ total: t.number, n: t.number })
    const statsV3 = aggregate<Grouped<string, Sale>, t.TypeOf<typeof V3>, number, 'stats'>({
      name: 'stats', version: 3, state: V3, zero: () => ({ total: 0, n: 0 }), add: (s, r) => ({ total: s.total + r.amount, n: s.n + 1 }),
      result: (s) => s.total,
      migrations: [migration({ from: 2, to: 3, codec: t.type({ total: t.string }), migrate: (old) => ({ total: Number(old.total), n: 0 }) })],
    })
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV3), outputMode: 'update' }))
    expect(reasons).toMatch(/state written at version 2 in .* cannot be migrated to version 3: does not decode as version 2 \(\{ total: string \}\) at \.total: expected string, got 5\./)
  })

  it('a migration that throws is refused at start(), with the step and what it threw', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 5)]])
    const throws = [migration({ from: 1, to: 2, codec: t.number, migrate: (): { total: number } => { throw new RangeError('no total for 5') } })]
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV2(throws)), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'stats': state written at version 1 in .* cannot be migrated to version 2: migration 1→2 threw: .*no total for 5\. Fix the migration/)
  })
})

describe('refused changes fail at start() with reasons that say what to do', () => {
  it('a changed source kind (memory → rate)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const fromRate = (s: Stream<Sale>) => s.pipe(byUser, count())
    const rate = rateSource({ rowsPerSecond: 10, startTimestamp: at(0) })
    const { reasons } = await refusal(
      deploy(location(), input, { build: fromRate, outputMode: 'update', source: rate as never }),
    )
    expect(reasons).toMatch(/source 0: kind changed from 'memory' to 'rate'.*start the changed query on a new checkpoint location/)
  })

  it('a changed directory of a jsonFiles source', async () => {
    const Sale = t.type({ user: t.string, amount: t.number, ts: t.number })
    const input = memorySource<Sale>()
    const [first, moved] = [join(checkpoint(), 'in'), join(checkpoint(), 'moved')]
    await mkdir(first)
    await deploy(location(), input, { build: countByUser, outputMode: 'update', source: jsonFiles(first, { codec: Sale }) }, [[]])
    const { reasons } = await refusal(deploy(location(), input, { build: countByUser, outputMode: 'update', source: jsonFiles(moved, { codec: Sale }) }))
    expect(reasons).toMatch(/source 0: directory changed from '.*\/in' to '.*\/moved'; the files already read are logged for the old one/)
  })

  it('a refused start leaves the checkpoint usable by the old query', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    await refusal(deploy(location(), input, { build: (s) => s.pipe(byUser, sum((r) => r.amount)), outputMode: 'update' }))
    const again = await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    expect(again.rows).toEqual([{ key: 'a', count: 2 }])
  })

  it('a stateful operator added (dropDuplicates before the count)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const deduped = (s: Stream<Sale>) => s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'dedupe' }), byUser, count())
    const { error, reasons } = await refusal(deploy(location(), input, { build: deduped, outputMode: 'update' }))
    expect(reasons).toMatch(/'dedupe' \(dropDuplicates, key number\) was added.*new checkpoint location/)
    expect(reasons).not.toMatch(/reordered/)
    // The count is in both queries: it is neither added nor removed.
    expect(error.reasons).toEqual([
      "stateful operator 1 'dedupe' (dropDuplicates, key number) was added; the checkpoint has no state for it; start the changed query on a new checkpoint location",
    ])
  })

  it('a stateful operator removed (dropDuplicates before the count)', async () => {
    const input = memorySource<Sale>()
    const deduped = (s: Stream<Sale>) => s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'dedupe' }), byUser, count())
    await deploy(location(), input, { build: deduped, outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: countByUser, outputMode: 'update' }))
    expect(reasons).toMatch(/'dedupe' \(dropDuplicates, key number\) was removed.*new checkpoint location/)
    expect(reasons).not.toMatch(/'count'/)
  })

  it('a stateful operator appended or dropped at the end (a second dropDuplicates)', async () => {
    const input = memorySource<Sale>()
    const once = (s: Stream<Sale>) => s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'byTime' }))
    const twice = (s: Stream<Sale>) =>
      s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'byTime' }), dropDuplicates((r) => r.user, t.string, { name: 'byUser' }))
    await deploy(location(), input, { build: once, outputMode: 'append' }, [[sale('a', 1)]])
    const added = await refusal(deploy(location(), input, { build: twice, outputMode: 'append' }))
    expect(added.reasons).toMatch(/stateful operator 2 'byUser' \(dropDuplicates, key string\) was added; the checkpoint has no state for it/)
    const other = join(checkpoint(), 'other')
    await deploy(other, input, { build: twice, outputMode: 'append' })
    const removed = await refusal(deploy(other, input, { build: once, outputMode: 'append' }))
    expect(removed.reasons).toMatch(/stateful operator 2 'byUser' \(dropDuplicates, key string\) was removed; its state would be dropped/)
  })

  it('stateful operators reordered (two dropDuplicates swapped)', async () => {
    const input = memorySource<Sale>()
    const byTime = dropDuplicates((r: Sale) => r.ts, t.number, { name: 'byTime' })
    const byUserOnce = dropDuplicates((r: Sale) => r.user, t.string, { name: 'byUser' })
    await deploy(location(), input, { build: (s) => s.pipe(byTime, byUserOnce, byUser, count()), outputMode: 'update' }, [[sale('a', 1)]])
    const { error, reasons } = await refusal(
      deploy(location(), input, { build: (s) => s.pipe(byUserOnce, byTime, byUser, count()), outputMode: 'update' }),
    )
    expect(reasons).toMatch(/operators were reordered: 'byTime' \(dropDuplicates, key number\) is now operator 2; state is matched by position; restore the order/)
    // Each of the two positions names the operator it held and where that operator is now (also the first position).
    expect(error.reasons).toEqual([
      "stateful operator 1: operators were reordered: 'byTime' (dropDuplicates, key number) is now operator 2; state is matched by position; restore the order or start the changed query on a new checkpoint location",
      "stateful operator 2: operators were reordered: 'byUser' (dropDuplicates, key string) is now operator 1; state is matched by position; restore the order or start the changed query on a new checkpoint location",
    ])
  })

  it('a changed kind of stateful operator (count → mapGroupsWithState)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const counting = (s: Stream<Sale>) =>
      s.pipe(byUser, mapGroupsWithState({
        name: 'count', version: 1, state: t.number,
        update: (_u, rows: Sale[], state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return state.get()
        },
      }))
    const { reasons } = await refusal(deploy(location(), input, { build: counting, outputMode: 'update' }))
    expect(reasons).toMatch(/was 'count' \(aggregate, key string\), now 'count' \(mapGroupsWithState, key string\); another operator cannot read this state/)
  })

  it('a renamed aggregation (count → sum)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: sumByUser, outputMode: 'update' }))
    expect(reasons).toMatch(/was 'count' \(aggregate, key string\), now 'sum' \(aggregate, key string\).*new checkpoint location/)
  })

  it('a changed key codec (t.string → t.number): keys cannot evolve', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const byLength = (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user.length, t.number), count())
    const { reasons } = await refusal(deploy(location(), input, { build: byLength, outputMode: 'update' }))
    expect(reasons).toMatch(/'count': key codec changed from string to number; keys cannot evolve.*new checkpoint location/)
  })

  // Every old key still decodes under these codecs, so only the compatibility check stands between them and state
  // split across partitions (the partition is a hash of the encoded key).
  it('a key codec widened so that old keys still decode (t.string → t.string | t.number)', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const widened = (s: Stream<Sale>) => s.pipe(groupBy((r): string | number => r.user, t.union([t.string, t.number])), count())
    const { reasons } = await refusal(deploy(location(), input, { build: widened, outputMode: 'update' }))
    expect(reasons).toMatch(/'count': key codec changed from string to \(string \| number\); keys cannot evolve/)
  })

  it('a record key codec with its fields reordered (old keys decode, but encode in another order)', async () => {
    const input = memorySource<Sale>()
    const byRecord = (codec: t.Type<{ user: string; tag: string }>) => (s: Stream<Sale>) =>
      s.pipe(groupBy((r) => ({ user: r.user, tag: 'x' }), codec), count())
    await deploy(location(), input, { build: byRecord(t.type({ user: t.string, tag: t.string })), outputMode: 'update' }, [[sale('a', 1)]])
    const reordered = byRecord(t.type({ tag: t.string, user: t.string }))
    const { reasons } = await refusal(deploy(location(), input, { build: reordered, outputMode: 'update' }))
    expect(reasons).toMatch(/key codec changed from \{ user: string, tag: string \} to \{ tag: string, user: string \}/)
  })

  // Both versions of this codec are named 'UserKey', so the fingerprints agree; only the stored keys show that the
  // new one encodes 'Alice' as 'alice': new rows of Alice would get a new id, and her old count would never grow.
  it('a key codec that keeps its name but encodes the stored keys differently (case folding added)', async () => {
    const input = memorySource<Sale>()
    const userKey = (encode: (user: string) => string) =>
      new t.Type<string, string, unknown>('UserKey', t.string.is, (u, c) => (typeof u === 'string' ? t.success(u) : t.failure(u, c)), encode)
    const byUserKey = (codec: t.Type<string, string, unknown>) => (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user, codec), count())
    const before = await deploy(location(), input, { build: byUserKey(userKey((u) => u)), outputMode: 'update' }, [[sale('Alice', 1)]])
    expect(before.rows).toEqual([{ key: 'Alice', count: 1 }])
    const { reasons } = await refusal(deploy(location(), input, { build: byUserKey(userKey((u) => u.toLowerCase())), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'count': stored key "Alice" .* key codec UserKey now encodes it as "alice".*keys cannot evolve.*new checkpoint location/)
  })

  it('a changed window size', async () => {
    const input = memorySource<Sale>()
    const windowed = (size: string) => (s: Stream<Sale>) =>
      s.pipe(groupBy((r) => r.user, t.string, { window: { time: (r: Sale) => r.ts, size } }), count())
    await deploy(location(), input, { build: windowed('10 seconds'), outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: windowed('20 seconds'), outputMode: 'update' }))
    expect(reasons).toMatch(/'count': window changed from 10000\/10000 to 20000\/20000 \(size\/slide ms\); windows are part of the key/)
  })

  it('a changed state codec without a version bump: raise the version and add a migration', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 1)]])
    const sameVersion = aggregate<Grouped<string, Sale>, t.TypeOf<typeof V2>, number, 'stats'>({
      name: 'stats', version: 1, state: V2, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }), result: (s) => s.total,
    })
    const { reasons } = await refusal(deploy(location(), input, { build: stats(sameVersion), outputMode: 'update' }))
    expect(reasons).toMatch(
      /'stats': state codec changed from number to \{ total: number \} but version stayed 1; raise the version to 2 and add a migration \{ from: 1, to: 2, codec, migrate \}/,
    )
  })

  it('a raised version without a migration', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV2([])), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'stats': state version rose from 1 to 2 but no chain of migrations leads from 1 to 2 \(migrations given: none\)/)
  })

  it('a lowered version', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: stats(statsV2()), outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: stats(statsV1()), outputMode: 'update' }))
    expect(reasons).toMatch(/operator 'stats': the checkpoint holds state version 2 but the query declares version 1; state versions cannot go down/)
  })

  it('a changed timeout kind of mapGroupsWithState (processingTime → eventTime)', async () => {
    const input = memorySource<Sale>()
    const sessions = (timeout: 'processingTime' | 'eventTime') => (s: Stream<Sale>) =>
      s.pipe(withWatermark((r) => r.ts, '5 seconds'), byUser, mapGroupsWithState({
        name: 'visits', version: 1, state: t.number, timeout,
        update: (_u, rows: Sale[], state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return state.get()
        },
      }))
    await deploy(location(), input, { build: sessions('processingTime'), outputMode: 'update' }, [[sale('a', 1)]])
    const { reasons } = await refusal(deploy(location(), input, { build: sessions('eventTime'), outputMode: 'update' }))
    expect(reasons).toMatch(/'visits': timeout changed from processingTime to eventTime; stored timeouts are on the old clock/)
  })

  it('output mode append → complete for a windowed aggregation with a watermark (evicted windows are gone)', async () => {
    const input = memorySource<Sale>()
    const windowed = (s: Stream<Sale>) =>
      s.pipe(withWatermark((r) => r.ts, '5 seconds'), groupBy((r) => r.user, t.string, tenSecondWindows), count())
    await deploy(location(), input, { build: windowed, outputMode: 'append' }, [[sale('a', 1, 1)], [sale('a', 1, 30)]])
    const { reasons } = await refusal(deploy(location(), input, { build: windowed, outputMode: 'complete' }))
    expect(reasons).toMatch(/output mode changed from 'append' to 'complete', but operator 'count' evicted windows behind the watermark.*keep 'append'/)
  })

  it('a window added to or removed from a groupBy', async () => {
    const input = memorySource<Sale>()
    const windowed = (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user, t.string, tenSecondWindows), count())
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const added = await refusal(deploy(location(), input, { build: windowed, outputMode: 'update' }))
    expect(added.error.reasons).toEqual([
      "stateful operator 1 'count': window changed from none to 10000/10000 (size/slide ms); windows are part of the key; start the changed query on a new checkpoint location",
    ])
    const other = join(checkpoint(), 'other')
    await deploy(other, input, { build: windowed, outputMode: 'update' })
    const removed = await refusal(deploy(other, input, { build: countByUser, outputMode: 'update' }))
    expect(removed.error.reasons).toEqual([
      "stateful operator 1 'count': window changed from 10000/10000 to none (size/slide ms); windows are part of the key; start the changed query on a new checkpoint location",
    ])
  })

  it('a renamed windowed aggregation (count → sum) names the window of both', async () => {
    const input = memorySource<Sale>()
    const windowed = <R>(op: Operator<Grouped<string, Sale>, R>) => (s: Stream<Sale>) => s.pipe(groupBy((r) => r.user, t.string, tenSecondWindows), op)
    await deploy(location(), input, { build: windowed(count()), outputMode: 'update' }, [[sale('a', 1)]])
    const { error } = await refusal(deploy(location(), input, { build: windowed(sum((r: Sale) => r.amount)), outputMode: 'update' }))
    expect(error.reasons).toEqual([
      "stateful operator 1: was 'count' (aggregate, key string, window 10000/10000 ms), now 'sum' (aggregate, key string, window 10000/10000 ms); " +
        'another operator cannot read this state; start the changed query on a new checkpoint location',
    ])
  })

  it('a stateful operator added while another changed its kind: the changed one is reported as removed and added', async () => {
    const input = memorySource<Sale>()
    await deploy(location(), input, { build: countByUser, outputMode: 'update' }, [[sale('a', 1)]])
    const dedupedCounting = (s: Stream<Sale>) =>
      s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'dedupe' }), byUser, mapGroupsWithState({
        name: 'count', version: 1, state: t.number,
        update: (_u, rows: Sale[], state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return state.get()
        },
      }))
    const { error } = await refusal(deploy(location(), input, { build: dedupedCounting, outputMode: 'update' }))
    expect(error.reasons).toEqual([
      "stateful operator 1 'count' (aggregate, key string) was removed; its state would be dropped silently; start the changed query on a new checkpoint location",
      "stateful operator 1 'dedupe' (dropDuplicates, key number) was added; the checkpoint has no state for it; start the changed query on a new checkpoint location",
      "stateful operator 2 'count' (mapGroupsWithState, key string) was added; the checkpoint has no state for it; start the changed query on a new checkpoint location",
    ])
  })

  it('operators replaced in place, one taking an old name under another kind, are not reported as reordered', async () => {
    const input = memorySource<Sale>()
    const before = (s: Stream<Sale>) => s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'seen' }), byUser, count())
    // The count's name now belongs to a dropDuplicates at position 1: no operator moved, both were replaced.
    const after = (s: Stream<Sale>) => s.pipe(dropDuplicates((r) => r.ts, t.number, { name: 'count' }), byUser, sum((r) => r.amount))
    await deploy(location(), input, { build: before, outputMode: 'update' }, [[sale('a', 1)]])
    const { error } = await refusal(deploy(location(), input, { build: after, outputMode: 'update' }))
    expect(error.reasons).toEqual([
      "stateful operator 1: was 'seen' (dropDuplicates, key number), now 'count' (dropDuplicates, key number); another operator cannot read this state; start the changed query on a new checkpoint location",
      "stateful operator 2: was 'count' (aggregate, key string), now 'sum' (aggregate, key string); another operator cannot read this state; start the changed query on a new checkpoint location",
    ])
  })

  it('a raised version without a migration is listed with the other differences found, not only when it is the only one', async () => {
    const input = memorySource<Sale>()
    const query = <R>(dedupe: Operator<Sale, Sale>, op: Operator<Grouped<string, Sale>, R>) => (s: Stream<Sale>) => s.pipe(dedupe, byUser, op)
    const byTime = dropDuplicates((r: Sale) => r.ts, t.number, { name: 'dedupe' })
    const byUserName = dropDuplicates((r: Sale) => r.user, t.string, { name: 'dedupe' })
    await deploy(location(), input, { build: query(byTime, statsV1()), outputMode: 'update' }, [[sale('a', 1)]])
    const { error } = await refusal(deploy(location(), input, { build: query(byUserName, statsV2([])), outputMode: 'update' }))
    expect(error.reasons).toEqual([
      "stateful operator 1 'dedupe': key codec changed from number to string; keys cannot evolve (they decide partitions and identity); start the changed query on a new checkpoint location",
      "operator 'stats': state version rose from 1 to 2 but no chain of migrations leads from 1 to 2 (migrations given: none). " +
        'Add the missing step(s) { from, to, codec, migrate }, or use a new checkpoint location',
    ])
  })

  // Every query of this version has one source, so only a checkpoint written by another program can record two.
  it('a checkpoint recorded with another number of sources is refused', () => {
    const plan = compilePlan(countByUser(session.readStream(memorySource<Sale>().source)).planNodes, 'update')
    const now = fingerprintOf(plan, { kind: 'memory', identity: 'memory' }, 4, CURRENT_FORMAT_VERSION)
    const recorded = { ...now, sources: [{ kind: 'memory', identity: 'memory' }, { kind: 'jsonFiles', identity: '/data/in' }] }
    const error = rejectionOfCall(() => checkCompatibility('/ckpt', recorded, now, plan))
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as IncompatibleCheckpointError).reasons).toEqual([
      'the checkpoint was written by a query with 2 source(s), this query has 1; start the changed query on a new checkpoint location',
    ])
  })
})
