import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { map as rxMap } from 'rxjs'
import {
  count,
  createSession,
  dropDuplicates,
  filter,
  groupBy,
  InvalidQueryError,
  map,
  mapGroupsWithState,
  memorySink,
  memorySource,
  type OutputMode,
  type Stream,
  sum,
  withWatermark,
} from '../../src/index.js'
import { rejectionOf } from './support.js'

interface Click {
  readonly user: string
  readonly ts: number
}

/** What `start()` does with a query written with `outputMode`. */
async function startWith<R>(build: (s: Stream<Click>) => Stream<R>, outputMode: OutputMode): Promise<unknown> {
  const query = await build(createSession().readStream(memorySource<Click>().source))
    .writeStream({ outputMode, sink: memorySink() })
    .start()
  await query.stop()
  return 'started'
}

const byUser = () => groupBy((c: Click) => c.user, t.string)
const byWindow = () => groupBy((c: Click) => c.user, t.string, { window: { time: (c) => c.ts, size: '1 minute' } })
const running = () =>
  mapGroupsWithState<{ key: string; value: Click }, number, number, 'clicks'>({
    name: 'clicks',
    version: 1,
    state: t.number,
    update: (_k, rows, state) => {
      state.update((state.getOption() ?? 0) + rows.length)
      return state.get()
    },
  })

describe('output mode rules, checked at start()', () => {
  it("rejects 'append' after a non-windowed aggregation with an InvalidQueryError naming the operator and the mode", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), count()), 'append'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/aggregate #2 \(count\).*'append'/)
  })

  it("rejects 'append' after a windowed aggregation without a watermark", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byWindow(), count()), 'append'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/withWatermark/)
  })

  it("accepts 'append' after a windowed aggregation with a watermark", async () => {
    expect(await startWith((s) => s.pipe(withWatermark((c) => c.ts, '10 seconds'), byWindow(), count()), 'append')).toBe('started')
  })

  it("accepts 'update' and 'complete' after a non-windowed aggregation", async () => {
    expect(await startWith((s) => s.pipe(byUser(), sum((c) => c.ts)), 'update')).toBe('started')
    expect(await startWith((s) => s.pipe(byUser(), sum((c) => c.ts)), 'complete')).toBe('started')
  })

  it("rejects 'complete' for a query without an aggregation", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(map((c) => c.user)), 'complete'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/'complete' needs an aggregation/)
  })

  it("rejects 'complete' for a query whose only stateful operator is dropDuplicates, naming it", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(dropDuplicates((c) => c.user, t.string)), 'complete'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/dropDuplicates/)
  })

  it("accepts 'append' and 'update' for a stateless query", async () => {
    expect(await startWith((s) => s.pipe(filter((c) => c.ts > 0)), 'append')).toBe('started')
    expect(await startWith((s) => s.pipe(filter((c) => c.ts > 0)), 'update')).toBe('started')
  })

  it("rejects mapGroupsWithState in 'append' mode (it supports 'update' only)", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), running()), 'append'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/mapGroupsWithState #2 \(clicks\).*'update' only, not 'append'/)
  })

  it("rejects mapGroupsWithState in 'complete' mode, naming it as not an aggregation", async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), running()), 'complete'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/'complete' needs an aggregation.*mapGroupsWithState #2 \(clicks\) is not one/)
  })

  it("accepts mapGroupsWithState in 'update' mode", async () => {
    expect(await startWith((s) => s.pipe(byUser(), running()), 'update')).toBe('started')
  })

  it('rejects a groupBy followed by something other than an aggregation, naming what follows', async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), map((g) => g.key)), 'update'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/groupBy #1: groupBy must be followed by an aggregation.*got map/)
  })

  it('rejects a groupBy at the end of the pipe', async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser()), 'update'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/the end of the pipe/)
  })

  it('rejects an aggregation without a groupBy right before it', async () => {
    const count$ = count() as never
    const error = await rejectionOf(startWith((s) => s.pipe(count$), 'update'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/needs a groupBy/)
  })

  it('rejects dropDuplicates with within but no withWatermark before it', async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(dropDuplicates((c) => c.user, t.string, { within: (c) => c.ts })), 'append'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/dropDuplicates #1: dropDuplicates with 'within' needs a withWatermark/)
  })

  it('rejects a second withWatermark', async () => {
    const error = await rejectionOf(
      startWith((s) => s.pipe(withWatermark((c) => c.ts, 0), withWatermark((c) => c.ts, 0)), 'append'),
    )
    expect(error).toBeInstanceOf(InvalidQueryError)
  })

  it('rejects a withWatermark after a stateful operator', async () => {
    const error = await rejectionOf(
      startWith((s) => s.pipe(dropDuplicates((c) => c.user, t.string), withWatermark((c) => c.ts, 0)), 'append'),
    )
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/before the stateful operators/)
  })

  it('rejects an aggregation followed by another stateful operator', async () => {
    const error = await rejectionOf(
      startWith((s) => s.pipe(byUser(), count(), dropDuplicates((r) => r.key, t.string)), 'update'),
    )
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/must be the last stateful operator/)
  })

  it("rejects mapGroupsWithState with an 'eventTime' timeout but no watermark", async () => {
    const timed = mapGroupsWithState<{ key: string; value: Click }, number, number, 'n'>({
      name: 'n',
      version: 1,
      state: t.number,
      timeout: 'eventTime',
      update: () => 1,
    })
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), timed), 'update'))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toMatch(/'eventTime' needs a withWatermark/)
  })

  it('rejects an output mode that is not append, update or complete', async () => {
    const error = await rejectionOf(startWith((s) => s.pipe(byUser(), count()), 'upsert' as OutputMode))
    expect(error).toBeInstanceOf(InvalidQueryError)
  })

  it('pipe() rejects a plain RxJS operator with a TypeError naming its position', () => {
    const stream = createSession().readStream(memorySource<Click>().source)
    const plain = rxMap((c: Click) => c.user) as never
    expect(() => stream.pipe(filter((c) => c.ts > 0), plain)).toThrow(/argument 2 of pipe\(\) is not a structured-rx operator/)
  })
})
