/**
 * Compiling a pipe into an incremental plan, as a user meets it: the queries `start()` refuses (each error naming the
 * operator and what to do), the operator names that become state directories, and the plan `explain()` shows.
 */
import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  aggregate,
  count,
  createSession,
  dropDuplicates,
  type Grouped,
  groupBy,
  IncompatibleCheckpointError,
  InvalidQueryError,
  map,
  mapGroupsWithState,
  memorySink,
  memorySource,
  type OutputMode,
  type Stream,
  type StreamingQuery,
  withWatermark,
} from '../../src/index.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { useTempDir } from '../checkpoint/tempDir.js'
import { at, rejectionOf, startQuery } from '../exec/support.js'

interface Click {
  readonly user: string
  readonly ts: number
}

const tempDir = useTempDir()
const running: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((q) => q.stop()))
})

/** Starts `build` over a memory source and returns the query (stopped after the test). */
async function start<R>(build: (s: Stream<Click>) => Stream<R>, outputMode: OutputMode, checkpointLocation?: string): Promise<StreamingQuery> {
  const query = await build(createSession({ shufflePartitions: 4 }).readStream(memorySource<Click>().source))
    .writeStream({ outputMode, sink: memorySink(), checkpointLocation })
    .start()
  running.push(query)
  return query
}

/** The message of the error `start()` fails with; fails the test unless it is an InvalidQueryError. */
async function refusal<R>(build: (s: Stream<Click>) => Stream<R>, outputMode: OutputMode): Promise<string> {
  const error = await rejectionOf(start(build, outputMode))
  expect(error).toBeInstanceOf(InvalidQueryError)
  return (error as Error).message
}

/** The plan `explain()` shows for `build`, one line per step, without the tree drawing. */
async function planOf<R>(build: (s: Stream<Click>) => Stream<R>, outputMode: OutputMode): Promise<string[]> {
  const query = await start(build, outputMode)
  return query
    .explain(false)
    .split('\n')
    .map((line) => line.replace(/^[ +-]*/, ''))
}

const byUser = () => groupBy((c: Click) => c.user, t.string)
const byMinute = (slide?: string) => groupBy((c: Click) => c.user, t.string, { window: { time: (c) => c.ts, size: '1 minute', slide } })
const clicks = (name = 'clicks') =>
  mapGroupsWithState<{ key: string; value: Click }, number, number, string>({
    name,
    version: 1,
    state: t.number,
    update: (_k, rows, state) => {
      state.update((state.getOption() ?? 0) + rows.length)
      return state.get()
    },
  })
const total = (name: string) =>
  aggregate<Grouped<string, Click>, number, number, string>({ name, version: 1, state: t.number, zero: () => 0, add: (s) => s + 1, result: (s) => s })

describe('compilePlan: what start() refuses', () => {
  it('names the output modes it accepts and the one it got', async () => {
    expect(await refusal((s) => s.pipe(byUser(), count()), 'upsert' as OutputMode)).toBe(
      `outputMode must be 'append', 'update' or 'complete', got "upsert"`,
    )
  })

  it('refuses a second withWatermark, naming both', async () => {
    const message = await refusal((s) => s.pipe(withWatermark((c) => c.ts, 0), map((c) => c), withWatermark((c) => c.ts, 0)), 'append')
    expect(message).toBe('withWatermark #3: a query has at most one withWatermark (the first is withWatermark #1)')
  })

  it('refuses an operator name that cannot name a state directory, naming the operator where it stands', async () => {
    expect(await refusal((s) => s.pipe(dropDuplicates((c) => c.user, t.string, { name: '../users' })), 'append')).toBe(
      "dropDuplicates #1: name '../users' must be 1–100 letters, digits, '_', '.' or '-' (it names the state directory)",
    )
    expect(await refusal((s) => s.pipe(map((c) => c), byUser(), total('clicks per user')), 'update')).toMatch(
      /^aggregate #3: name 'clicks per user' must be 1–100 letters/,
    )
    expect(await refusal((s) => s.pipe(byUser(), clicks('x'.repeat(101))), 'update')).toMatch(/^mapGroupsWithState #2: name 'x{101}' must be/)
  })

  it('refuses mapGroupsWithState without a groupBy right before it, instead of leaving it out', async () => {
    const alone = clicks() as never
    expect(await refusal((s) => s.pipe(alone), 'update')).toBe("mapGroupsWithState #1: mapGroupsWithState 'clicks' needs a groupBy(keyOf, keyCodec) right before it")
  })

  it('refuses mapGroupsWithState after a windowed groupBy', async () => {
    const afterWindow = clicks() as never
    expect(await refusal((s) => s.pipe(withWatermark((c) => c.ts, 0), byMinute(), afterWindow), 'update')).toBe(
      "mapGroupsWithState 'clicks': the groupBy before it must not use a window",
    )
  })

  it('refuses a stateful operator after an aggregation or mapGroupsWithState, saying only dropDuplicates may come first', async () => {
    expect(await refusal((s) => s.pipe(byUser(), count(), dropDuplicates((r) => r.key, t.string)), 'update')).toBe(
      'aggregate #2 (count): only dropDuplicates may come before another stateful operator; aggregate must be the last stateful operator of a query',
    )
    expect(await refusal((s) => s.pipe(byUser(), clicks(), dropDuplicates((r) => r.key, t.string)), 'update')).toMatch(
      /^mapGroupsWithState #2 \(clicks\): only dropDuplicates may come before/,
    )
  })

  it('accepts dropDuplicates, with and without within, before an aggregation, and counts the rows they let through', async () => {
    const q = await startQuery<Click, { key: string; count: number }>(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, '1 minute'),
          dropDuplicates((c) => `${c.user}@${c.ts}`, t.string, { within: (c) => c.ts, name: 'events' }),
          dropDuplicates((c) => c.ts, t.number, { name: 'instants' }),
          byUser(),
          count(),
        ),
      { outputMode: 'update' },
    )
    running.push(q.query)
    await q.feed([
      { user: 'a', ts: at(1) },
      { user: 'a', ts: at(1) },
      { user: 'b', ts: at(1) },
      { user: 'b', ts: at(2) },
      { user: 'a', ts: at(3) },
    ])
    expect(q.sink.rows().sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', count: 2 },
      { key: 'b', count: 1 },
    ])
  })

  it("refuses 'complete' for a stateless query, saying it has no stateful operator at all", async () => {
    expect(await refusal((s) => s.pipe(map((c) => c.user)), 'complete')).toBe(
      "output mode 'complete' needs an aggregation (groupBy followed by count/sum/avg/min/max/agg/aggregate); this query has none",
    )
  })

  it.each([
    ['a windowed aggregation without a watermark', 2, (s: Stream<Click>) => s.pipe(byMinute(), count())],
    ['an aggregation with a watermark but no window', 3, (s: Stream<Click>) => s.pipe(withWatermark((c) => c.ts, 0), byUser(), count())],
  ])("refuses 'append' after %s, saying what it needs and what to use otherwise", async (_, position, build) => {
    expect(await refusal(build, 'append')).toBe(
      `aggregate #${position} (count): output mode 'append' after an aggregation needs a withWatermark before it and a groupBy ` +
        'window on event time, so each window is emitted once when the watermark passes its end; ' +
        "use 'update' or 'complete' otherwise",
    )
  })
})

describe('compilePlan: operators and their state', () => {
  it('gives operators of the same name distinct names, numbered from 2 in pipe order', async () => {
    const plan = await planOf(
      (s) =>
        s.pipe(
          dropDuplicates((c) => c.user, t.string),
          dropDuplicates((c) => c.ts, t.number),
          dropDuplicates((c) => `${c.user}@${c.ts}`, t.string),
          byUser(),
          total('dropDuplicates'),
        ),
      'update',
    )
    expect(plan.filter((line) => /^(DropDuplicates|StatefulAggregate) /.test(line)).map((line) => line.split(' ')[1])).toEqual([
      'dropDuplicates-4',
      'dropDuplicates-3',
      'dropDuplicates-2',
      'dropDuplicates',
    ])
  })

  it("keeps every window of a windowed aggregation in 'complete' mode, also once the watermark has passed its end", async () => {
    const q = await startQuery<Click, { key: string; window: { start: number; end: number }; count: number }>(
      (s) => s.pipe(withWatermark((c) => c.ts, 0), groupBy((c: Click) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } }), count()),
      { outputMode: 'complete' },
    )
    running.push(q.query)
    await q.feed([{ user: 'a', ts: at(1) }])
    await q.feed([{ user: 'a', ts: at(100) }])
    await q.feed([{ user: 'a', ts: at(101) }])
    expect(q.sink.rows().map((r) => [r.window.start, r.count]).sort((x, y) => x[0]! - y[0]!)).toEqual([
      [at(0), 1],
      [at(100), 2],
    ])
  })

  it('keeps every group of an aggregation without a window once the watermark has passed its rows (update mode)', async () => {
    const q = await startQuery<Click, { key: string; count: number }>(
      (s) => s.pipe(withWatermark((c) => c.ts, 0), groupBy((c: Click) => c.user, t.string), count()),
      { outputMode: 'update' },
    )
    running.push(q.query)
    await q.feed([{ user: 'a', ts: at(1) }])
    await q.feed([{ user: 'b', ts: at(100) }])
    await q.feed([{ user: 'a', ts: at(101) }])
    expect(q.sink.rows().map((r) => [r.key, r.count])).toEqual([
      ['a', 2],
      ['b', 1],
    ])
  })

  it('records dropDuplicates with and without within as different kinds, so a restart cannot switch between them', async () => {
    const dir = tempDir()
    const plain = (s: Stream<Click>) => s.pipe(withWatermark((c) => c.ts, 0), dropDuplicates((c) => c.user, t.string))
    const within = (s: Stream<Click>) => s.pipe(withWatermark((c) => c.ts, 0), dropDuplicates((c) => c.user, t.string, { within: (c) => c.ts }))
    await (await start(plain, 'append', dir)).stop()
    const error = await rejectionOf(start(within, 'append', dir))
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as IncompatibleCheckpointError).reasons.join('\n')).toMatch(
      /was 'dropDuplicates' \(dropDuplicates, key string\), now 'dropDuplicates' \(dropDuplicatesWithinWatermark, key string\)/,
    )
  })

  it("records the timeout of an aggregation and a dropDuplicates as 'none' (inspect shows it)", async () => {
    const dir = tempDir()
    await (await start((s) => s.pipe(dropDuplicates((c) => c.ts, t.number), byUser(), count()), 'update', dir)).stop()
    const report = await inspectCheckpoint(dir)
    expect(report.operators.map((op) => [op.name, op.kind, op.timeout])).toEqual([
      ['dropDuplicates', 'dropDuplicates', 'none'],
      ['count', 'aggregate', 'none'],
    ])
  })
})

describe('compilePlan: the plan explain() shows', () => {
  it('shows no empty stateless step where a watermark or stateful operator follows the source directly', async () => {
    const plan = await planOf((s) => s.pipe(withWatermark((c) => c.ts, '10 seconds'), byMinute(), count()), 'update')
    expect(plan.filter((line) => line.startsWith('FusedStateless'))).toEqual([])
    expect(plan).toHaveLength(5)
  })

  it('shows a stateful aggregation with its key and its window, with the slide when the window slides', async () => {
    expect(await planOf((s) => s.pipe(withWatermark((c) => c.ts, 0), byMinute('10 seconds'), count()), 'update')).toContain(
      'StatefulAggregate count [key string, window 60000 ms sliding 10000 ms] [state number, partitions=4]',
    )
    expect(await planOf((s) => s.pipe(withWatermark((c) => c.ts, 0), byMinute(), count()), 'update')).toContain(
      'StatefulAggregate count [key string, window 60000 ms] [state number, partitions=4]',
    )
    expect(await planOf((s) => s.pipe(byUser(), count()), 'update')).toContain('StatefulAggregate count [key string] [state number, partitions=4]')
  })

  it('shows mapGroupsWithState with its key and no window', async () => {
    expect(await planOf((s) => s.pipe(byUser(), clicks()), 'update')).toContain('MapGroupsWithState clicks [key string] [state number, partitions=4]')
  })

  it('shows dropDuplicates by name, saying "within watermark" only when it has within', async () => {
    const plan = await planOf(
      (s) =>
        s.pipe(
          withWatermark((c) => c.ts, 0),
          dropDuplicates((c) => c.user, t.string, { name: 'users' }),
          dropDuplicates((c) => c.ts, t.number, { name: 'instants', within: (c) => c.ts }),
        ),
      'append',
    )
    expect(plan).toContain('DropDuplicates users [state number, partitions=4]')
    expect(plan).toContain('DropDuplicates instants within watermark [state number, partitions=4]')
  })
})
