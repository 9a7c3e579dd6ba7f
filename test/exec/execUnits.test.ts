/**
 * Pieces of the running plan on their own: the fused stateless loop, the grouping of keyed operators, the
 * dropDuplicates executor with batch contexts chosen by hand, and instantiate's choice of executors and stores.
 */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import type { BatchContext, StatefulExec } from '../../src/exec/batch.js'
import { instantiate } from '../../src/exec/instantiate.js'
import { Grouping } from '../../src/exec/stateful/grouping.js'
import { fuseStateless } from '../../src/exec/stateless.js'
import { OperatorFailure } from '../../src/errors.js'
import { compilePlan } from '../../src/plan/compile.js'
import type { StatelessNode } from '../../src/plan/nodes.js'
import type { OutputMode } from '../../src/plan/plan.js'
import {
  count,
  createSession,
  dropDuplicates,
  filter,
  groupBy,
  map,
  mapGroupsWithState,
  memorySource,
  type Stream,
  withWatermark,
} from '../../src/index.js'

type Fn = (row: never) => unknown
const node = (kind: StatelessNode['kind'], fn: Fn) => ({ node: { kind, fn } as StatelessNode, label: `${kind} #x` })

/** The OperatorFailure a function throws (fails the test if it returns). */
function failureOf(run: () => unknown): OperatorFailure {
  try {
    run()
  } catch (e) {
    return e as OperatorFailure
  }
  throw new Error('expected an OperatorFailure')
}

describe('fuseStateless', () => {
  it('runs map, filter and flatMap in order over every row, flatMap in its own order', () => {
    const fused = fuseStateless([
      { node: { kind: 'map', fn: (n: number) => n * 10 } as StatelessNode, label: 'map #1' },
      { node: { kind: 'filter', fn: (n: number) => n !== 20 } as StatelessNode, label: 'filter #2' },
      { node: { kind: 'flatMap', fn: (n: number) => [n, n + 1] } as StatelessNode, label: 'flatMap #3' },
      { node: { kind: 'map', fn: (n: number) => `v${n}` } as StatelessNode, label: 'map #4' },
    ])
    expect(fused([1, 2, 3])).toEqual(['v10', 'v11', 'v30', 'v31'])
    expect(fused([])).toEqual([])
  })

  it('keeps the rows a filter returns a truthy value for and drops the falsy ones', () => {
    const fused = fuseStateless([node('filter', (v: unknown) => v)])
    expect(fused([0, 1, '', 'a', null, {}, undefined, false, true, Number.NaN])).toEqual([1, 'a', {}, true])
  })

  it('a filter inside a flatMap skips only the element, not the rest of the row', () => {
    const fused = fuseStateless([node('flatMap', (n: number) => [n, n + 1, n + 2]), node('filter', (n: number) => n % 2 === 0)])
    expect(fused([1, 10])).toEqual([2, 10, 12])
  })

  it('takes any iterable from flatMap: a Set, a generator, a string', () => {
    const fused = fuseStateless([
      node('flatMap', (v: unknown) => {
        if (v === 'set') return new Set([1, 2])
        if (v === 'gen') {
          return (function* () {
            yield 3
          })()
        }
        return 'xy'
      }),
    ])
    expect(fused(['set', 'gen', 'str'])).toEqual([1, 2, 3, 'x', 'y'])
  })

  it.each([
    ['null', null, 'got null'],
    ['undefined', undefined, 'got undefined'],
    ['a number', 5, 'got number'],
    ['a plain object', { length: 1 }, 'got object'],
  ])('blames the flatMap that returns %s with a TypeError', (_, value, got) => {
    const fused = fuseStateless([node('map', (n: number) => n), { node: { kind: 'flatMap', fn: () => value } as StatelessNode, label: 'flatMap #2' }])
    const failure = failureOf(() => fused([1]))
    expect(failure).toBeInstanceOf(OperatorFailure)
    expect(failure.operator).toBe('flatMap #2')
    expect(failure.cause).toBeInstanceOf(TypeError)
    expect((failure.cause as Error).message).toBe(`flatMap must return an array or iterable, ${got}`)
  })

  it('blames the operator whose function throws, by its label, with what it threw', () => {
    const boom = new Error('boom')
    const fused = fuseStateless([
      { node: { kind: 'map', fn: (n: number) => n } as StatelessNode, label: 'map #1' },
      {
        node: {
          kind: 'filter',
          fn: (n: number) => {
            if (n === 2) throw boom
            return true
          },
        } as StatelessNode,
        label: 'filter #2',
      },
      { node: { kind: 'map', fn: (n: number) => n } as StatelessNode, label: 'map #3' },
    ])
    const failure = failureOf(() => fused([1, 2]))
    expect(failure).toMatchObject({ operator: 'filter #2', cause: boom })
  })

  it('blames the first operator of the chain and a flatMap whose function throws', () => {
    const first = failureOf(() => fuseStateless([{ node: { kind: 'map', fn: () => { throw new Error('a') } } as StatelessNode, label: 'map #1' }])([1]))
    expect(first.operator).toBe('map #1')
    const flat = failureOf(() =>
      fuseStateless([{ node: { kind: 'flatMap', fn: () => { throw new Error('b') } } as StatelessNode, label: 'flatMap #1' }])([1]),
    )
    expect(flat).toMatchObject({ operator: 'flatMap #1', cause: new Error('b') })
  })

  it('passes on an OperatorFailure a function throws as it is', () => {
    const inner = new OperatorFailure('inner', new Error('deep'))
    const fused = fuseStateless([node('map', () => { throw inner })])
    expect(failureOf(() => fused([1]))).toBe(inner)
  })
})

describe('Grouping', () => {
  const plain = new Grouping({ kind: 'groupBy', keyOf: ((r: { user: unknown }) => r.user) as Fn, keyCodec: t.string }, 'groupBy #2')

  it('gives the key of a row once it matches the key codec, and one id per distinct key', () => {
    expect(plain.keyOfRow({ user: 'a' })).toBe('a')
    expect(plain.idOf('a')).toBe(plain.idOf('a'))
    expect(plain.idOf('a')).not.toBe(plain.idOf('b'))
    expect(plain.windowed).toBe(false)
  })

  it('blames itself for a key that does not match the key codec, naming the key and the codec', () => {
    const failure = failureOf(() => plain.keyOfRow({ user: 42 }))
    expect(failure).toBeInstanceOf(OperatorFailure)
    expect(failure.operator).toBe('groupBy #2')
    expect(failure.cause).toBeInstanceOf(TypeError)
    expect((failure.cause as Error).message).toBe('key 42 does not match the key codec string')
  })

  it('blames itself for a key function that throws, with what it threw', () => {
    const boom = new Error('no user')
    const failure = failureOf(() => plain.keyOfRow(null))
    expect(failure).toMatchObject({ operator: 'groupBy #2' })
    const throwing = new Grouping({ kind: 'groupBy', keyOf: () => { throw boom }, keyCodec: t.string }, 'groupBy #1')
    expect(failureOf(() => throwing.keyOfRow({}))).toMatchObject({ operator: 'groupBy #1', cause: boom })
  })

  it('reads the event time of a row of a windowed grouping, blaming itself for one that is not finite', () => {
    const windowed = new Grouping(
      { kind: 'groupBy', keyOf: () => 'k', keyCodec: t.string, window: { time: ((r: { ts: unknown }) => r.ts) as Fn, sizeMs: 1000, slideMs: 1000 } },
      'groupBy #1',
    )
    expect(windowed.windowed).toBe(true)
    expect(windowed.timeOfRow({ ts: 5000 })).toBe(5000)
    expect(failureOf(() => windowed.timeOfRow({ ts: 'soon' }))).toMatchObject({ operator: 'groupBy #1' })
  })
})

interface Event {
  readonly id: string
  readonly ts: number
}
const ev = (id: string, ts: number): Event => ({ id, ts })

/** The executors of a query's plan, built as a start builds them. */
function executorsOf<R>(build: (s: Stream<Event>) => Stream<R>, mode: OutputMode = 'append', partitions = 2, patchDeltas?: boolean): StatefulExec[] {
  const stream = build(createSession().readStream(memorySource<Event>().source))
  const plan = compilePlan((stream as unknown as { planNodes: never }).planNodes, mode)
  return [...(patchDeltas === undefined ? instantiate(plan, partitions) : instantiate(plan, partitions, patchDeltas)).operators]
}

const ctx = (batchId: number, watermarkMs: number, watermarkDelayMs = 50): BatchContext => ({
  batchId,
  watermarkMs,
  hasWatermark: true,
  watermarkDelayMs,
  processingTimeMs: 0,
  outputMode: 'append',
})

describe('DropDuplicatesExec', () => {
  const within = () =>
    executorsOf((s) => s.pipe(withWatermark((e) => e.ts, 50), dropDuplicates((e) => e.id, t.string, { within: (e) => e.ts })))[0]!
  const forever = () => executorsOf((s) => s.pipe(dropDuplicates((e) => e.id, t.string)))[0]!

  it('keeps the first row of each key, in this batch and the ones after', () => {
    const exec = forever()
    expect(exec.run([ev('a', 1), ev('b', 2), ev('a', 3)], ctx(0, 0))).toEqual([ev('a', 1), ev('b', 2)])
    expect(exec.run([ev('b', 4), ev('c', 5)], ctx(1, 0))).toEqual([ev('c', 5)])
    expect(exec.store.size).toBe(3)
  })

  it('indexes its state by expiry only with `within`: without it a restore may keep the state cold (read lazily)', () => {
    expect(forever().store.keepsCold).toBe(true)
    expect(within().store.keepsCold).toBe(false)
  })

  it('without `within`, drops nothing as late, evicts nothing and never needs a no-data batch', () => {
    const exec = forever()
    exec.run([ev('a', 1)], ctx(0, 1_000_000))
    expect(exec.numRowsDroppedByWatermark).toBe(0)
    expect(exec.removalsTimeMs).toBe(0)
    expect(exec.store.size).toBe(1)
    expect(exec.needsNoDataBatch(Number.MAX_SAFE_INTEGER, 0)).toBe(false)
  })

  it('with `within`, drops rows older than the watermark as late, and keeps a row exactly at it', () => {
    const exec = within()
    expect(exec.run([ev('late', 99), ev('on time', 100), ev('later', 150)], ctx(0, 100))).toEqual([ev('on time', 100), ev('later', 150)])
    expect(exec.numRowsDroppedByWatermark).toBe(1)
    // The count is the batch's own: the next batch starts again from 0.
    exec.run([ev('x', 200)], ctx(1, 100))
    expect(exec.numRowsDroppedByWatermark).toBe(0)
  })

  it('forgets a key once the watermark reaches its first event time plus the delay, not before', () => {
    const exec = within()
    exec.run([ev('a', 100)], ctx(0, 0))
    // Expires at 100 + 50 = 150: at a watermark of 149 the key is still known.
    expect(exec.run([ev('a', 149)], ctx(1, 149))).toEqual([])
    expect(exec.store.size).toBe(1)
    expect(exec.run([], ctx(2, 150))).toEqual([])
    expect(exec.store.size).toBe(0)
    expect(exec.run([ev('a', 150)], ctx(3, 150))).toEqual([ev('a', 150)])
  })

  it('times its removals apart, a short and non-negative figure', () => {
    const exec = within()
    exec.run([ev('a', 100)], ctx(0, 0))
    exec.run([], ctx(1, 1000))
    expect(exec.removalsTimeMs).toBeGreaterThanOrEqual(0)
    expect(exec.removalsTimeMs).toBeLessThan(1000)
  })

  it('asks for a no-data batch only when a higher watermark reaches the earliest expiry', () => {
    const exec = within()
    expect(exec.needsNoDataBatch(1000, 0)).toBe(false)
    exec.run([ev('a', 100), ev('b', 300)], ctx(0, 0))
    expect(exec.needsNoDataBatch(0, 0)).toBe(false)
    expect(exec.needsNoDataBatch(149, 0)).toBe(false)
    expect(exec.needsNoDataBatch(150, 0)).toBe(true)
    exec.run([], ctx(1, 150))
    expect(exec.needsNoDataBatch(150, 0)).toBe(false)
    expect(exec.needsNoDataBatch(349, 0)).toBe(false)
    expect(exec.needsNoDataBatch(350, 0)).toBe(true)
    exec.run([], ctx(2, 350))
    expect(exec.store.size).toBe(0)
    expect(exec.needsNoDataBatch(10_000, 0)).toBe(false)
  })

  it('asks for a no-data batch for state it holds before any batch ran (restored from a checkpoint)', () => {
    const exec = within()
    exec.store.put('id-of-a', 'a', undefined, 150)
    expect(exec.needsNoDataBatch(149, 0)).toBe(false)
    expect(exec.needsNoDataBatch(150, 0)).toBe(true)
  })

  it('blames itself for a `within` time that is not a number and for a key that fails its codec', () => {
    const exec = within()
    const bad = executorsOf((s) => s.pipe(withWatermark((e) => e.ts, 50), dropDuplicates((e) => e.id, t.string, { within: () => 'x' as unknown as number })))[0]!
    expect(failureOf(() => bad.run([ev('a', 1)], ctx(0, 0)))).toMatchObject({ operator: 'dropDuplicates' })
    expect(failureOf(() => exec.run([{ id: 7, ts: 1 } as unknown as Event], ctx(0, 0)))).toMatchObject({ operator: 'dropDuplicates' })
  })
})

describe('instantiate', () => {
  it('builds one step per stage, the stateless ones fused, and the stateful executors in plan order', () => {
    const exec = instantiate(
      compilePlan(
        (
          createSession()
            .readStream(memorySource<Event>().source)
            .pipe(
              map((e: Event) => e),
              filter((e: Event) => e.ts > 0),
              withWatermark((e: Event) => e.ts, 10),
              dropDuplicates((e: Event) => e.id, t.string),
              groupBy((e: Event) => e.id, t.string),
              count(),
            ) as unknown as { planNodes: never }
        ).planNodes,
        'update',
      ),
      3,
    )
    expect(exec.steps.map((s) => s.kind)).toEqual(['stateless', 'watermark', 'stateful', 'stateful'])
    expect(exec.operators.map((o) => o.spec.kind)).toEqual(['dropDuplicates', 'aggregate'])
    expect(exec.steps.flatMap((s) => (s.kind === 'stateful' ? [s.exec] : []))).toEqual(exec.operators)
    const stateless = exec.steps[0]!
    expect(stateless.kind === 'stateless' && stateless.run([ev('a', 0), ev('b', 1)])).toEqual([ev('b', 1)])
    const watermark = exec.steps[1]!
    expect(watermark.kind === 'watermark' && watermark.timeOf(ev('a', 7))).toBe(7)
    for (const op of exec.operators) expect(op.store.partitions).toBe(3)
  })

  it('lets aggregate and mapGroupsWithState state record patches unless told not to; dropDuplicates state never does', () => {
    const agg = (patch?: boolean) => executorsOf((s) => s.pipe(groupBy((e) => e.id, t.string), count()), 'update', 2, patch)[0]!
    const mgws = (patch?: boolean) =>
      executorsOf(
        (s) =>
          s.pipe(
            groupBy((e) => e.id, t.string),
            mapGroupsWithState({ name: 'seen', version: 1, state: t.number, update: (_k: string, rows: Event[]) => rows.length }),
          ),
        'update',
        2,
        patch,
      )[0]!
    expect(agg().store.patchDeltas).toBe(true)
    expect(agg(false).store.patchDeltas).toBe(false)
    expect(mgws().store.patchDeltas).toBe(true)
    expect(mgws(false).store.patchDeltas).toBe(false)
    expect(mgws().spec.kind).toBe('mapGroupsWithState')
    const dedup = executorsOf((s) => s.pipe(dropDuplicates((e) => e.id, t.string)), 'append', 2, true)[0]!
    expect(dedup.store.patchDeltas).toBe(false)
  })

  it("hands a task's ownership to every store, so a partitioned task's stores refuse other tasks' keys", () => {
    const owner = { task: 0, tasks: 2, source: 'events' }
    const stream = createSession().readStream(memorySource<Event>().source).pipe(groupBy((e: Event) => e.id, t.string), count())
    const plan = compilePlan((stream as unknown as { planNodes: never }).planNodes, 'update')
    const exec = instantiate(plan, 4, true, owner)
    expect(exec.operators[0]!.store.owner).toBe(owner)
    expect(instantiate(plan, 4).operators[0]!.store.owner).toBeUndefined()
    const others = createSession()
      .readStream(memorySource<Event>().source)
      .pipe(
        dropDuplicates((e: Event) => e.id, t.string),
        groupBy((e: Event) => e.id, t.string),
        mapGroupsWithState({ name: 'seen', version: 1, state: t.number, update: (_k: string, rows: Event[]) => rows.length }),
      )
    const stores = instantiate(compilePlan((others as unknown as { planNodes: never }).planNodes, 'update'), 4, true, owner).operators
    expect(stores.map((o) => [o.spec.kind, o.store.owner])).toEqual([
      ['dropDuplicates', owner],
      ['mapGroupsWithState', owner],
    ])
  })
})
