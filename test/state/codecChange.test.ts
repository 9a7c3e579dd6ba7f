import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
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
  it('is refused at start() as an incompatible change that asks for a version and a migration', async () => {
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
    expect((error as IncompatibleCheckpointError).reasons.join('\n')).toMatch(/operator 'stats'.*raise the operator's version/)
  })
})
