import * as t from 'io-ts'
import { from, type Observable, take } from 'rxjs'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  agg,
  aggregate,
  avg,
  count,
  dropDuplicates,
  filter,
  flatMap,
  type Grouped,
  groupBy,
  map,
  mapGroupsWithState,
  max,
  min,
  type Operator,
  sum,
  type Window,
  type WindowGrouped,
  withWatermark,
} from '../../src/index.js'
import { type Flat, type RowOf, streamOf } from '../support/typeTests.js'

/** A page view: the row type the operators below are written for, outside any pipe. */
interface PV {
  readonly page: string
  readonly user: string
  readonly ts: number
}

type OutOf<O> = O extends Operator<never, infer B> ? Flat<B> : never
type Emitted<O> = O extends Observable<infer B> ? Flat<B> : never

const views = () => streamOf<PV>()
const rows: PV[] = [{ page: '/', user: 'a', ts: 1 }]

// Each operator is written once outside pipe (its argument annotated, as in a helper module), its type checked, and
// then used both in Stream.pipe and in plain RxJS pipe.
describe('operators type-check outside pipe, generic in the row type', () => {
  it('map', () => {
    const op = map((r: PV) => r.ts)
    expectTypeOf(op).toEqualTypeOf<Operator<PV, number>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<number>()
    expectTypeOf<Emitted<ReturnType<typeof inRx>>>().toEqualTypeOf<number>()
    function inPipe() {
      return views().pipe(op)
    }
    function inRx() {
      return from(rows).pipe(op)
    }
  })

  it('filter (and a type-guard filter)', () => {
    const op = filter((r: PV) => r.page !== '/')
    expectTypeOf(op).toEqualTypeOf<Operator<PV, PV>>()
    const guard = filter((v: string | number): v is number => typeof v === 'number')
    expectTypeOf(guard).toEqualTypeOf<Operator<string | number, number>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<PV>()
    expectTypeOf<Emitted<ReturnType<typeof inRx>>>().toEqualTypeOf<PV>()
    function inPipe() {
      return views().pipe(op)
    }
    function inRx() {
      return from(rows).pipe(op)
    }
  })

  it('flatMap', () => {
    const op = flatMap((r: PV) => r.page.split('/'))
    expectTypeOf(op).toEqualTypeOf<Operator<PV, string>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<string>()
    function inPipe() {
      return views().pipe(op)
    }
  })

  it('withWatermark', () => {
    const op = withWatermark((r: PV) => r.ts, '10 seconds')
    expectTypeOf(op).toEqualTypeOf<Operator<PV, PV>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<PV>()
    function inPipe() {
      return views().pipe(op)
    }
  })

  it('groupBy, plain and windowed', () => {
    const byPage = groupBy((r: PV) => r.page, t.string)
    expectTypeOf(byPage).toEqualTypeOf<Operator<PV, Grouped<string, PV>>>()
    const windowed = groupBy((r: PV) => r.user, t.string, { window: { time: (r) => r.ts, size: '10 seconds' } })
    expectTypeOf(windowed).toEqualTypeOf<Operator<PV, WindowGrouped<string, PV>>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<{ key: string; count: number }>()
    expectTypeOf<RowOf<ReturnType<typeof windowedInPipe>>>().toEqualTypeOf<{ key: string; window: Window; count: number }>()
    function inPipe() {
      return views().pipe(byPage, count())
    }
    function windowedInPipe() {
      return views().pipe(withWatermark((r) => r.ts, 1000), windowed, count())
    }
  })

  it('count', () => {
    const op = count()
    expectTypeOf<OutOf<typeof op>>().toEqualTypeOf<{ key: unknown; count: number }>()
    expectTypeOf<Emitted<ReturnType<typeof inRx>>>().toEqualTypeOf<{ key: string; count: number }>()
    function inRx() {
      return from(rows).pipe(groupBy((r) => r.page, t.string), count())
    }
  })

  it('sum, avg, min and max take a function of the row', () => {
    const total = sum((r: PV) => r.ts)
    expectTypeOf(total).toExtend<Operator<Grouped<string, PV>, { key: unknown; sum: number }>>()
    expectTypeOf<OutOf<typeof total>>().toEqualTypeOf<{ key: unknown; sum: number }>()
    expectTypeOf<OutOf<ReturnType<typeof avg<Grouped<string, PV>>>>>().toEqualTypeOf<{ key: string; avg: number }>()
    expectTypeOf(min((r: PV) => r.ts)).toExtend<Operator<Grouped<string, PV>, { min: number }>>()
    expectTypeOf(max((r: PV) => r.ts)).toExtend<Operator<Grouped<string, PV>, { max: number }>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<{ key: string; sum: number }>()
    expectTypeOf<Emitted<ReturnType<typeof inRx>>>().toEqualTypeOf<{ key: string; sum: number }>()
    function inPipe() {
      // The standalone operator's key is unknown; written in the pipe, the key comes from groupBy.
      return views().pipe(groupBy((r) => r.page, t.string), sum((r) => r.ts))
    }
    function inRx() {
      return from(rows).pipe(groupBy((r) => r.page, t.string), sum((r) => r.ts))
    }
    views().pipe(groupBy((r) => r.page, t.string), total)
  })

  it('agg of standalone columns', () => {
    const op = agg({ n: count(), last: max((r: PV) => r.ts) })
    expectTypeOf<OutOf<typeof op>>().toEqualTypeOf<{ key: unknown; n: number; last: number }>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<{ key: string; n: number; last: number }>()
    function inPipe() {
      return views().pipe(groupBy((r) => r.page, t.string), agg({ n: count(), last: max((r) => r.ts) }))
    }
    views().pipe(groupBy((r) => r.page, t.string), op)
  })

  it('aggregate', () => {
    const op = aggregate({
      name: 'span',
      version: 1,
      state: t.type({ first: t.number, last: t.number }),
      zero: () => ({ first: Infinity, last: -Infinity }),
      add: (s, r: PV) => ({ first: Math.min(s.first, r.ts), last: Math.max(s.last, r.ts) }),
      result: (s) => s.last - s.first,
    })
    expectTypeOf<OutOf<typeof op>>().toEqualTypeOf<{ key: unknown; span: number }>()
    expectTypeOf(op).toExtend<Operator<Grouped<string, PV>, { span: number }>>()
    views().pipe(groupBy((r) => r.page, t.string), op)
  })

  it('dropDuplicates', () => {
    const op = dropDuplicates((r: PV) => r.user, t.string, { within: (r) => r.ts })
    expectTypeOf(op).toEqualTypeOf<Operator<PV, PV>>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<PV>()
    function inPipe() {
      return views().pipe(withWatermark((r) => r.ts, 1000), op)
    }
  })

  it('mapGroupsWithState', () => {
    const op = mapGroupsWithState({
      name: 'visits',
      version: 1,
      state: t.number,
      update: (user: string, views: PV[], state) => {
        state.update((state.getOption() ?? 0) + views.length)
        return { user, visits: state.get() }
      },
    })
    expectTypeOf<OutOf<typeof op>>().toEqualTypeOf<{ key: string; visits: { user: string; visits: number } }>()
    expectTypeOf<RowOf<ReturnType<typeof inPipe>>>().toEqualTypeOf<{ key: string; visits: { user: string; visits: number } }>()
    function inPipe() {
      return views().pipe(groupBy((r) => r.user, t.string), op)
    }
  })
})

describe('a plain RxJS operator in Stream.pipe', () => {
  it('is a type error on that argument (a [PLAN] node is missing), and a TypeError at run time', () => {
    const s = views()
    expectTypeOf(take<PV>(1)).not.toExtend<Operator<PV, PV>>()
    // @ts-expect-error: take(1) carries no plan node; the error lands on this argument
    expect(() => s.pipe(filter((r) => r.ts > 0), take(1), count())).toThrow(/argument 2 of pipe\(\) is not a structured-rx operator/)
  })
})
