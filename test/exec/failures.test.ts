import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  aggregate,
  count,
  flatMap,
  groupBy,
  map,
  mapGroupsWithState,
  type Stream,
  type StreamingQuery,
  StreamingQueryError,
  withWatermark,
} from '../../src/index.js'
import { rejectionOf, type Running, startQuery } from './support.js'

interface Order {
  readonly user: string
  readonly amount: number
}
const orders = (...amounts: number[]): Order[] => amounts.map((amount, i) => ({ user: `u${i % 2}`, amount }))

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

/** Starts the query, runs one good batch (batch 0), then feeds `bad` as batch 1 and returns how the query failed. */
async function failOnSecondBatch<R>(
  build: (s: Stream<Order>) => Stream<R>,
  good: Order[],
  bad: Order[],
  outputMode: 'append' | 'update' = 'update',
): Promise<{ error: unknown; q: Running<Order, R> }> {
  const q = await startQuery(build, { outputMode })
  started.push(q.query)
  await q.feed(good)
  const error = await rejectionOf(q.feed(bad))
  return { error, q }
}

const boom = new Error('boom')
const explodeOn = (amount: number) => (o: Order) => {
  if (o.amount === amount) throw boom
  return o
}

describe('a failing batch', () => {
  it('a user function that throws terminates the query with a StreamingQueryError naming the batch and the operator', async () => {
    const { error } = await failOnSecondBatch((s) => s.pipe(map(explodeOn(13))), orders(1), orders(13), 'append')
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error).toMatchObject({ batchId: 1, operator: 'map #1', cause: boom, code: 'SRX_QUERY_FAILED' })
    expect((error as Error).message).toMatch(/failed in batch 1 at map #1: boom/)
  })

  it('labels a stateless operator by its position in the pipe', async () => {
    const { error } = await failOnSecondBatch(
      (s) => s.pipe(map((o) => o), flatMap((o) => [explodeOn(13)(o)])),
      orders(1),
      orders(13),
      'append',
    )
    expect(error).toMatchObject({ batchId: 1, operator: 'flatMap #2' })
  })

  it('awaitTermination() rejects with the same error, and the query keeps it as its exception', async () => {
    const { error, q } = await failOnSecondBatch((s) => s.pipe(map(explodeOn(13))), orders(1), orders(13), 'append')
    expect(await rejectionOf(q.query.awaitTermination())).toBe(error)
    expect(q.query.exception).toBe(error)
    expect(q.query.isActive).toBe(false)
    expect(q.query.status.message).toMatch(/^Terminated with exception/)
  })

  it('processAllAvailable() on a failed query rejects with its exception', async () => {
    const { error, q } = await failOnSecondBatch((s) => s.pipe(map(explodeOn(13))), orders(1), orders(13), 'append')
    expect(await rejectionOf(q.query.processAllAvailable())).toBe(error)
  })

  it('the sink receives nothing of the failed batch', async () => {
    const { q } = await failOnSecondBatch((s) => s.pipe(map(explodeOn(13))), orders(1), orders(2, 13), 'append')
    expect(q.sink.lastBatchId).toBe(0)
    expect(q.sink.rows()).toEqual(orders(1))
  })

  it('a throwing aggregation names the aggregate operator', async () => {
    const { error, q } = await failOnSecondBatch(
      (s) =>
        s.pipe(
          groupBy((o) => o.user, t.string),
          aggregate({
            name: 'tot',
            version: 1,
            state: t.number,
            zero: () => 0,
            add: (sum, o) => sum + explodeOn(13)(o).amount,
            result: (sum) => sum,
          }),
        ),
      orders(1),
      orders(13),
    )
    expect(error).toMatchObject({ batchId: 1, operator: 'tot', cause: boom })
    expect(q.sink.lastBatchId).toBe(0)
  })

  it('a throwing mapGroupsWithState update names the operator', async () => {
    const { error } = await failOnSecondBatch(
      (s) =>
        s.pipe(
          groupBy((o) => o.user, t.string),
          mapGroupsWithState({
            name: 'sessions',
            version: 1,
            state: t.number,
            update: (_user, rows) => rows.map(explodeOn(13)).length,
          }),
        ),
      orders(1),
      orders(13),
    )
    expect(error).toMatchObject({ batchId: 1, operator: 'sessions', cause: boom })
  })

  it('a state value that fails its codec is a StreamingQueryError naming the operator, and the sink gets nothing of the batch', async () => {
    const { error, q } = await failOnSecondBatch(
      (s) =>
        s.pipe(
          groupBy((o) => o.user, t.string),
          aggregate<{ key: string; value: Order }, number, number, 'tot'>({
            name: 'tot',
            version: 1,
            state: t.number,
            zero: () => 0,
            add: (sum, o) => (o.amount === 13 ? (String(sum) as unknown as number) : sum + o.amount),
            result: (sum) => sum,
          }),
        ),
      orders(1),
      orders(13),
    )
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error).toMatchObject({ batchId: 1, operator: 'tot' })
    expect((error as Error).message).toMatch(/state of operator 'tot' for key "u0" does not match its codec number/)
    expect(q.sink.lastBatchId).toBe(0)
    expect(q.sink.rows()).toEqual([{ key: 'u0', tot: 1 }])
  })

  it('a state value that JSON cannot carry is a StreamingQueryError naming the operator, the key and where in the state', async () => {
    const Stats = t.type({ total: t.number, ratios: t.array(t.number) })
    const { error, q } = await failOnSecondBatch(
      (s) =>
        s.pipe(
          groupBy((o) => o.user, t.string),
          aggregate<{ key: string; value: Order }, t.TypeOf<typeof Stats>, number, 'stats'>({
            name: 'stats',
            version: 1,
            state: Stats,
            zero: () => ({ total: 0, ratios: [] }),
            // t.number accepts NaN, which JSON would write as null: the state could not be restored as it was.
            add: (st, o) => ({ total: st.total + o.amount, ratios: [...st.ratios, o.amount === 13 ? NaN : o.amount] }),
            result: (st) => st.total,
          }),
        ),
      orders(1),
      orders(13),
    )
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error).toMatchObject({ batchId: 1, operator: 'stats' })
    expect((error as Error).message).toMatch(/state of operator 'stats' for key "u0" cannot be persisted: \.ratios\[1\] is NaN \(JSON has no NaN/)
    expect(q.sink.lastBatchId).toBe(0)
  })

  it('a key that fails its codec is a StreamingQueryError naming the groupBy', async () => {
    const { error, q } = await failOnSecondBatch(
      (s) => s.pipe(groupBy((o) => (o.amount === 13 ? (o.amount as unknown as string) : o.user), t.string), count()),
      orders(1),
      orders(13),
    )
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error).toMatchObject({ batchId: 1, operator: 'groupBy #1' })
    expect((error as Error).message).toMatch(/key 13 does not match the key codec string/)
    expect(q.sink.lastBatchId).toBe(0)
  })

  it('an event time that is not a finite number fails the query naming withWatermark', async () => {
    const { error } = await failOnSecondBatch(
      (s) => s.pipe(withWatermark((o) => (o.amount === 13 ? Number.NaN : o.amount), 0), map((o) => o)),
      orders(1),
      orders(13),
      'append',
    )
    expect(error).toMatchObject({ batchId: 1, operator: 'withWatermark #1' })
  })

  it('a flatMap that returns something not iterable fails the query naming it', async () => {
    const { error } = await failOnSecondBatch(
      (s) => s.pipe(flatMap((o) => (o.amount === 13 ? (null as unknown as Order[]) : [o]))),
      orders(1),
      orders(13),
      'append',
    )
    expect(error).toMatchObject({ batchId: 1, operator: 'flatMap #1' })
    expect((error as Error).message).toMatch(/must return an array or iterable/)
  })

  it("the session's awaitAnyTermination() rejects with the failed query's exception", async () => {
    const q = await startQuery<Order, Order>((s) => s.pipe(map(explodeOn(13))), { outputMode: 'append' })
    started.push(q.query)
    const anyTermination = rejectionOf(q.session.streams.awaitAnyTermination())
    q.input.addData(orders(13))
    const error = await anyTermination
    expect(error).toBeInstanceOf(StreamingQueryError)
    expect(error).toBe(q.query.exception)
  })
})
