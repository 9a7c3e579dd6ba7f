import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { runGroupedOnce } from '../support/groupedRun.js'
import {
  aggregate,
  createSession,
  type Grouped,
  groupBy,
  IncompatibleCheckpointError,
  memorySink,
  memorySource,
  type Operator,
} from '../../src/index.js'

type Sale = { user: string; amount: number }
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

// Both codecs carry the same user-given name, so the plan fingerprint cannot tell them apart; the restore can.
const Before = t.type({ total: t.number }, 'Stats')
const After = t.type({ sum: t.number }, 'Stats')
const before = aggregate<Grouped<string, Sale>, t.TypeOf<typeof Before>, number, 'stats'>({
  name: 'stats', version: 1, state: Before, zero: () => ({ total: 0 }), add: (s, r) => ({ total: s.total + r.amount }),
  result: (s) => s.total,
})
const after = aggregate<Grouped<string, Sale>, t.TypeOf<typeof After>, number, 'stats'>({
  name: 'stats', version: 1, state: After, zero: () => ({ sum: 0 }), add: (s, r) => ({ sum: s.sum + r.amount }),
  result: (s) => s.sum,
})

describe('a state codec changed under the same name and version', () => {
  it('is refused at start() as an incompatible change that names the field and asks for a version and a migration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-codec-change-'))
    dirs.push(dir)
    const input = memorySource<Sale>()
    const start = (agg: Operator<Grouped<string, Sale>, unknown>) =>
      createSession()
        .readStream(input.source)
        .pipe(groupBy((r: Sale) => r.user, t.string), agg)
        .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: dir })
        .start()
    const q = await start(before)
    input.addData([{ user: 'a', amount: 1 }])
    await q.processAllAvailable()
    await q.stop()
    const error = await start(after).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as IncompatibleCheckpointError).reasons.join('\n')).toMatch(
      /operator 'stats': state in .* does not decode: \.sum: expected number, got undefined \(state codec Stats, version 1\)\. If the state codec changed, raise the operator's version/,
    )
  })
})

/** A Date kept in the checkpoint as an ISO string: its encoded form is not a value of the codec's type. */
const DateFromIso = new t.Type<Date, string, unknown>(
  'DateFromIso',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.toISOString(),
)

describe('a state codec whose encoded form differs from its values', () => {
  it('restores decoded values after a restart: a Date state written as an ISO string comes back a Date', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-codec-date-'))
    dirs.push(dir)
    type Visit = { user: string; at: number }
    const input = memorySource<Visit>()
    // The latest visit per user, kept as a Date: add() calls getTime() on the restored state.
    const latest = aggregate<Grouped<string, Visit>, Date, string, 'latest'>({
      name: 'latest', version: 1, state: DateFromIso, zero: () => new Date(0),
      add: (s, r) => (r.at > s.getTime() ? new Date(r.at) : s), result: (s) => s.toISOString(),
    })
    const run = (rows: Visit[]) => runGroupedOnce(dir, input, latest, rows)
    await run([{ user: 'a', at: 5_000 }, { user: 'b', at: 1_000 }])
    expect(await run([{ user: 'a', at: 2_000 }, { user: 'b', at: 3_000 }])).toEqual([
      { key: 'a', latest: new Date(5_000).toISOString() },
      { key: 'b', latest: new Date(3_000).toISOString() },
    ])
  })
})
