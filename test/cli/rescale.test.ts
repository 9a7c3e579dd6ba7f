import { mkdtemp, readdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BatchLog } from '../../src/durable/batchLog.js'
import { readCheckpointFile, writeCheckpointFile } from '../../src/durable/format.js'
import { OffsetLogEntry } from '../../src/checkpoint/logs.js'
import { runCli } from '../../src/cli/cli.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { prepareRescale, readRescaleMarker, rescaleCheckpoint } from '../../src/checkpoint/rescale.js'
import {
  count,
  createSession,
  dropDuplicates,
  groupBy,
  IncompatibleCheckpointError,
  memorySink,
  memorySource,
  nodeFs,
} from '../../src/index.js'
import { captureIo, countQuery, runOn, users } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-rescale-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function rescaleCli(partitions: number) {
  const io = captureIo()
  const code = await runCli(['rescale', dir, '--partitions', String(partitions)], io)
  return { code, out: io.stdout(), err: io.stderr() }
}

describe('structured-rx rescale', () => {
  it('lets a query continue with exact counts after rescaling up (4 → 7) and down (7 → 2)', async () => {
    const query = countQuery(dir)
    // Six batches on 4 partitions: a snapshot at batch 3, deltas after it, so rescale reads both.
    await runOn(query, 4, [users(20), users(30, 2), users(5), users(12), users(40), users(3)])

    expect(await rescaleCli(7)).toMatchObject({ code: 0, err: '' })
    const up = await inspectCheckpoint(dir)
    expect(up.shufflePartitions).toBe(7)
    expect(up.fingerprint.shufflePartitions).toBe(7)
    expect(up.operators[0]!.partitions).toHaveLength(7)
    expect(up.operators[0]!.partitions.reduce((n, p) => n + p.rows, 0)).toBe(40)
    expect(up.operators[0]!.rows).toBe(40)

    await runOn(query, 7, [users(45), users(7, 3)])
    expect(query.table()).toEqual(query.expected())

    expect(await rescaleCli(2)).toMatchObject({ code: 0, err: '' })
    const down = await inspectCheckpoint(dir)
    expect(down.shufflePartitions).toBe(2)
    expect(down.operators[0]!.partitions.map((p) => p.rows).reduce((a, b) => a + b)).toBe(45)

    await runOn(query, 2, [users(50), ['new-user']])
    expect(query.table()).toEqual(query.expected())
    expect(query.warnings).toEqual([])
    expect(await readdir(join(dir, 'state'))).toEqual(['count'])
  })

  it('moves windowed state and dropDuplicates state, keyed the way the running query keys them', async () => {
    type Event = { id: string; user: string; ts: number }
    const input = memorySource<Event>({ name: 'events' })
    const sink = memorySink<{ key: string; window: { start: number; end: number }; count: number }>()
    const start = (shufflePartitions: number) =>
      createSession({ shufflePartitions })
        .readStream(input.source)
        .pipe(
          dropDuplicates((e: Event) => e.id, t.string),
          groupBy((e: Event) => e.user, t.string, { window: { time: (e: Event) => e.ts, size: 10_000, slide: 5_000 } }),
          count(),
        )
        .writeStream({ outputMode: 'update', checkpointLocation: dir, sink })
        .start()
    const events = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `e${(from + i) % 70}`, user: `u${(from + i) % 9}`, ts: (from + i) * 700 }))
    const all: Event[] = []
    const feed = async (q: Awaited<ReturnType<typeof start>>, rows: Event[]) => {
      all.push(...rows)
      input.addData(rows)
      await q.processAllAvailable()
    }
    const q1 = await start(3)
    await feed(q1, events(0, 40))
    await feed(q1, events(30, 30))
    await q1.stop()

    expect(await rescaleCli(5)).toMatchObject({ code: 0 })
    const q2 = await start(5)
    await feed(q2, events(55, 40))
    await q2.stop()

    const seen = new Set<string>()
    const expected = new Map<string, number>()
    for (const e of all) {
      if (seen.has(e.id)) continue
      seen.add(e.id)
      for (const start of [Math.floor(e.ts / 5_000) * 5_000 - 5_000, Math.floor(e.ts / 5_000) * 5_000]) {
        const k = `${e.user}@${start}`
        expected.set(k, (expected.get(k) ?? 0) + 1)
      }
    }
    const got = new Map(sink.rows().map((r) => [`${r.key}@${r.window.start}`, r.count]))
    expect(got).toEqual(expected)
    const report = await inspectCheckpoint(dir)
    expect(report.operators.map((op) => [op.name, op.partitions.length, op.rows])).toEqual([
      ['dropDuplicates', 5, seen.size],
      ['count', 5, expected.size],
    ])
  })

  it('refuses while a query is running on the checkpoint, with the ConcurrentQueryError message', async () => {
    const query = countQuery(dir)
    const q = await query.start(4)
    query.add(users(5))
    await q.processAllAvailable()
    try {
      const result = await rescaleCli(6)
      expect(result.code).toBe(1)
      expect(result.err).toMatch(/^structured-rx: checkpoint .* is in use by another running query \(query "clicks", .*\); stop it first .*\n$/)
      expect((await inspectCheckpoint(dir)).shufflePartitions).toBe(4)
    } finally {
      await q.stop()
    }
  })

  it('refuses a checkpoint whose last batch is pending, until a run commits it', async () => {
    const query = countQuery(dir)
    await runOn(query, 4, [users(6), users(8)])
    // What a crash right after the write-ahead log of batch 2 leaves behind.
    query.add(users(10))
    await new BatchLog(nodeFs, join(dir, 'offsets'), OffsetLogEntry).add(2, {
      batchId: 2, start: 14, end: 24, watermarkMs: 0, batchTimestampMs: Date.now(), shufflePartitions: 4,
    })

    const refused = await rescaleCli(3)
    expect(refused.code).toBe(1)
    expect(refused.err).toBe(
      'structured-rx: batch 2 is pending (its offsets are logged but it never committed): ' +
        'start the query once so batch 2 commits, then rescale\n',
    )
    await runOn(query, 4, [])
    expect(await rescaleCli(3)).toMatchObject({ code: 0 })
    await runOn(query, 3, [users(11)])
    expect(query.table()).toEqual(query.expected())
  })

  it('refuses an operator whose state files carry different state versions', async () => {
    const query = countQuery(dir)
    await runOn(query, 2, [users(4), users(4)])
    const [file] = (await readdir(join(dir, 'state', 'count'))).filter((f) => f.startsWith('1.'))
    const path = join(dir, 'state', 'count', file!)
    const body = await readCheckpointFile(nodeFs, path)
    await writeCheckpointFile(nodeFs, path, body.replace('{"stateVersion":1,', '{"stateVersion":2,'))

    const refused = await rescaleCli(5)
    expect(refused.code).toBe(1)
    expect(refused.err).toContain("operator 'count': its state files carry state versions 1 and 2; run the query once so its migrated state is snapshotted")
    expect(await readRescaleMarker(nodeFs, dir)).toBeUndefined()
    expect(await readdir(join(dir, 'state'))).toEqual(['count'])
  })

  it('does nothing when the checkpoint already has that many partitions', async () => {
    const query = countQuery(dir)
    await runOn(query, 4, [users(3)])
    const result = await rescaleCli(4)
    expect(result).toMatchObject({ code: 0, err: '' })
    expect(result.out).toContain('has 4 shuffle partitions; nothing to do')
  })
})

describe('an interrupted rescale', () => {
  type Row = { id: string; user: string }
  /** Two stateful operators, so a crash can fall between their directory swaps. */
  function twoOperatorQuery() {
    const input = memorySource<Row>({ name: 'two' })
    const sink = memorySink<{ key: string; count: number }>()
    const expected = new Map<string, number>()
    const seen = new Set<string>()
    return {
      add(rows: Row[]) {
        for (const r of rows) {
          if (seen.has(r.id)) continue
          seen.add(r.id)
          expected.set(r.user, (expected.get(r.user) ?? 0) + 1)
        }
        input.addData(rows)
      },
      expected: () => [...expected].map(([key, n]) => ({ key, count: n })).sort((a, b) => a.key.localeCompare(b.key)),
      table: () => sink.rows().slice().sort((a, b) => a.key.localeCompare(b.key)),
      start: (shufflePartitions: number) =>
        createSession({ shufflePartitions })
          .readStream(input.source)
          .pipe(dropDuplicates((r: Row) => r.id, t.string), groupBy((r: Row) => r.user, t.string), count())
          .writeStream({ outputMode: 'update', checkpointLocation: dir, sink })
          .start(),
    }
  }
  const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `e${(from + i) % 50}`, user: `u${(from + i) % 13}` }))

  async function runTwo(query: ReturnType<typeof twoOperatorQuery>, partitions: number, batch: Row[]) {
    const q = await query.start(partitions)
    query.add(batch)
    await q.processAllAvailable()
    await q.stop()
  }

  it('is finished by running rescale again after a crash between the two operators’ swaps', async () => {
    const query = twoOperatorQuery()
    await runTwo(query, 4, rows(0, 30))
    await runTwo(query, 4, rows(20, 20))
    await prepareRescale(nodeFs, dir, 6)
    // The crash: dropDuplicates swapped (its .old not yet removed), count moved aside but its new layout not in place.
    const state = (name: string) => join(dir, 'state', name)
    await rename(state('dropDuplicates'), state('dropDuplicates.old'))
    await rename(state('dropDuplicates.rescale-6'), state('dropDuplicates'))
    await rename(state('count'), state('count.old'))
    expect((await readdir(join(dir, 'state'))).sort()).toEqual(['count.old', 'count.rescale-6', 'dropDuplicates', 'dropDuplicates.old'])
    expect((await inspectCheckpoint(dir)).rescaleInProgress).toMatchObject({ from: 4, to: 6, operators: ['dropDuplicates', 'count'] })

    const resumed = await rescaleCli(6)
    expect(resumed.code).toBe(0)
    expect(resumed.out).toContain('finishing an interrupted rescale from 4 to 6 partitions')
    expect(resumed.out).not.toContain('rescaling')
    expect(resumed.out).not.toContain('nothing to do')
    expect((await readdir(join(dir, 'state'))).sort()).toEqual(['count', 'dropDuplicates'])
    expect(await readRescaleMarker(nodeFs, dir)).toBeUndefined()
    const report = await inspectCheckpoint(dir)
    expect(report.shufflePartitions).toBe(6)
    expect(report.operators.map((op) => op.partitions.length)).toEqual([6, 6])

    await runTwo(query, 6, rows(35, 25))
    expect(query.table()).toEqual(query.expected())
  })

  it('is finished first when rescale is run again with another partition count', async () => {
    const query = twoOperatorQuery()
    await runTwo(query, 3, rows(0, 40))
    await prepareRescale(nodeFs, dir, 8)

    const result = await rescaleCli(5)
    expect(result.code).toBe(0)
    expect(result.out).toContain('finishing an interrupted rescale from 3 to 8 partitions')
    expect(result.out).toContain('rescaling')
    expect(result.out).toContain('from 8 to 5 partitions')
    expect((await inspectCheckpoint(dir)).shufflePartitions).toBe(5)
    await runTwo(query, 5, rows(30, 30))
    expect(query.table()).toEqual(query.expected())
  })

  it('leaves the old layout in use when it died before writing its marker, and clears the litter next time', async () => {
    const query = twoOperatorQuery()
    await runTwo(query, 4, rows(0, 25))
    await prepareRescale(nodeFs, dir, 9)
    await rm(join(dir, 'rescale'))
    expect((await inspectCheckpoint(dir)).shufflePartitions).toBe(4)

    await runTwo(query, 4, rows(10, 10))
    expect(query.table()).toEqual(query.expected())
    expect(await rescaleCli(2)).toMatchObject({ code: 0 })
    expect((await readdir(join(dir, 'state'))).sort()).toEqual(['count', 'dropDuplicates'])
    await runTwo(query, 2, rows(40, 20))
    expect(query.table()).toEqual(query.expected())
  })

  it('keeps queries from starting on the checkpoint until it is finished', async () => {
    const query = twoOperatorQuery()
    await runTwo(query, 4, rows(0, 10))
    await prepareRescale(nodeFs, dir, 2)
    const error = await query.start(4).then(
      async (q) => {
        await q.stop()
        return undefined
      },
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect(String(error)).toContain('structured-rx rescale')
  })
})

describe('rescaleCheckpoint', () => {
  it('reports how many rows each operator has in each new partition', async () => {
    const query = countQuery(dir)
    await runOn(query, 4, [users(25)])
    const report = await rescaleCheckpoint(dir, 3)
    expect(report).toMatchObject({ from: 4, to: 3, batchId: 0, resumed: undefined })
    expect(report.operators[0]!.rowsPerPartition.reduce((a, b) => a + b)).toBe(25)
    expect(report.operators[0]!.rowsPerPartition).toHaveLength(3)
  })
})
