import type { S3Client } from '@aws-sdk/client-s3'
import * as t from 'io-ts'
import type { Pool } from 'pg'
import { describe, expectTypeOf, it } from 'vitest'
import {
  agg,
  aggregate,
  avg,
  count,
  dropDuplicates,
  filter,
  flatMap,
  groupBy,
  jetStream,
  jetStreamPartitions,
  map,
  mapGroupsWithState,
  max,
  min,
  type Operator,
  type PostgresPoolLike,
  type S3ClientLike,
  repartition,
  sum,
  type Window,
  withWatermark,
} from '../src/index.js'
import { type RowOf, streamOf } from './support/typeTests.js'

interface Activity {
  readonly gt: string
  readonly user: string
  readonly x: number
  readonly ts: number
}

const activity = () => streamOf<Activity>()
const window = { window: { time: (r: Activity) => r.ts, size: '10 minutes' } }

describe('result row types', () => {
  it('groupBy(..., t.string), count() gives { key: string; count: number }', () => {
    const s = activity().pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count())
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; count: number }>()
  })

  it('the key type follows the key codec', () => {
    const s = activity().pipe(groupBy((r) => ({ gt: r.gt, user: r.user }), t.type({ gt: t.string, user: t.string })), count())
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: { gt: string; user: string }; count: number }>()
  })

  it('a windowed aggregation adds window: Window', () => {
    const s = activity().pipe(withWatermark((r) => r.ts, '1 minute'), groupBy((r) => r.gt, t.string, window), count())
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; window: Window; count: number }>()
  })

  it('sum, avg, min and max name their column after themselves', () => {
    const g = () => activity().pipe(groupBy((r) => r.user, t.string))
    expectTypeOf<RowOf<ReturnType<typeof s1>>>().toEqualTypeOf<{ key: string; sum: number }>()
    expectTypeOf<RowOf<ReturnType<typeof s2>>>().toEqualTypeOf<{ key: string; avg: number }>()
    expectTypeOf<RowOf<ReturnType<typeof s3>>>().toEqualTypeOf<{ key: string; min: number }>()
    expectTypeOf<RowOf<ReturnType<typeof s4>>>().toEqualTypeOf<{ key: string; max: number }>()
    function s1() {
      return g().pipe(sum((r) => r.x))
    }
    function s2() {
      return g().pipe(avg((r) => r.x))
    }
    function s3() {
      return g().pipe(min((r) => r.x))
    }
    function s4() {
      return g().pipe(max((r) => r.x))
    }
  })

  it('agg({ n: count(), m: max(f) }) gives { key, n: number, m: number }', () => {
    const s = activity().pipe(groupBy((r) => r.gt, t.string), agg({ n: count(), m: max((r) => r.x) }))
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; n: number; m: number }>()
  })

  it('a windowed agg keeps the window', () => {
    const s = activity().pipe(groupBy((r) => r.gt, t.string, window), agg({ n: count() }))
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; window: Window; n: number }>()
  })

  it("aggregate({ name: 'tot', ... }) gives { key, tot: R }", () => {
    const s = activity().pipe(
      groupBy((r) => r.user, t.string),
      aggregate({
        name: 'tot',
        version: 1,
        state: t.type({ n: t.number, total: t.number }),
        zero: () => ({ n: 0, total: 0 }),
        add: (st, r) => ({ n: st.n + 1, total: st.total + r.x }),
        result: (st) => ({ mean: st.total / st.n, n: st.n }),
      }),
    )
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; tot: { mean: number; n: number } }>()
  })

  it("mapGroupsWithState({ name: 'st', ... }) gives { key, st: R }", () => {
    const s = activity().pipe(
      groupBy((r) => r.user, t.string),
      mapGroupsWithState({
        name: 'st',
        version: 1,
        state: t.number,
        update: (_user, rows, state) => {
          state.update((state.getOption() ?? 0) + rows.length)
          return { clicks: state.get() }
        },
      }),
    )
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<{ key: string; st: { clicks: number } }>()
  })

  it('mapGroupsWithState hands update the key, the rows and typed state', () => {
    activity().pipe(
      groupBy((r) => r.user, t.string),
      mapGroupsWithState({
        name: 'st',
        version: 1,
        state: t.type({ n: t.number }),
        update: (key, rows, state) => {
          expectTypeOf(key).toEqualTypeOf<string>()
          expectTypeOf(rows).toEqualTypeOf<Activity[]>()
          expectTypeOf(state.getOption()).toEqualTypeOf<{ n: number } | undefined>()
          return 1
        },
      }),
    )
  })

  it('stateless operators and dropDuplicates type their rows', () => {
    const s = activity().pipe(
      withWatermark((r) => r.ts, '1 minute'),
      dropDuplicates((r) => r.user, t.string, { within: (r) => r.ts }),
      map((r) => ({ user: r.user, x2: r.x * 2 })),
      flatMap((r) => [r.user, String(r.x2)]),
    )
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<string>()
  })

  it('a filter with a type guard narrows the row type', () => {
    const s = streamOf<string | number>().pipe(filter((v): v is number => typeof v === 'number'))
    expectTypeOf<RowOf<typeof s>>().toEqualTypeOf<number>()
  })

  it('rejects a key of another type than its codec', () => {
    // @ts-expect-error: the key function returns a number, the codec is for strings
    activity().pipe(groupBy((r) => r.x, t.string), count())
  })

  it('rejects an aggregation function reading a field the rows do not have', () => {
    // @ts-expect-error: Activity has no field 'y'
    activity().pipe(groupBy((r) => r.user, t.string), sum((r) => r.y))
  })
})

describe('connector signatures: structural types that the real client objects satisfy', () => {
  it("a pg Pool is a PostgresPoolLike and an S3Client an S3ClientLike; objects without their methods are neither", () => {
    expectTypeOf<Pool>().toExtend<PostgresPoolLike>()
    expectTypeOf<S3Client>().toExtend<S3ClientLike>()
    expectTypeOf<{ query(text: string): Promise<unknown> }>().not.toExtend<PostgresPoolLike>()
    expectTypeOf<{ region: string }>().not.toExtend<S3ClientLike>()
  })
})

describe('repartition takes only a partitioned stream of the library, of the stream\'s row type, as via', () => {
  const Activity: t.Type<Activity> = t.readonly(t.type({ gt: t.string, user: t.string, x: t.number, ts: t.number }))
  const servers = 'nats://127.0.0.1:1'
  const user = (r: Activity) => r.user

  it('accepts jetStreamPartitions of the row type', () => {
    const via = jetStreamPartitions({ servers, stream: 'S', subject: 's', partitions: 2, codec: Activity })
    expectTypeOf(repartition(user, t.string, { via })).toEqualTypeOf<Operator<Activity, Activity>>()
  })

  it('refuses a source, a look-alike object and a stream of another row type at compile time', () => {
    const source = jetStream({ servers, stream: 'S', subject: 's', codec: Activity })
    // @ts-expect-error a source is not a partitioned stream to write into
    repartition(user, t.string, { via: source })
    // @ts-expect-error an object with the same fields was not built by jetStreamPartitions or redisStreamPartitions
    repartition(user, t.string, { via: { description: 'S', partitions: 2, codec: Activity } })
    const visits = jetStreamPartitions({ servers, stream: 'S', subject: 's', partitions: 2, codec: t.type({ page: t.string }) })
    // @ts-expect-error its rows are not the stream's
    repartition(user, t.string, { via: visits })
  })
})
