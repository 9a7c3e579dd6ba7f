import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it, vi } from 'vitest'
import { count, createSession, dropDuplicates, groupBy, memorySource, withWatermark } from '../../src/index.js'
import type { BatchContext, StatefulExec } from '../../src/exec/batch.js'
import { instantiate } from '../../src/exec/instantiate.js'
import { compilePlan } from '../../src/plan/compile.js'
import type { OutputMode } from '../../src/plan/plan.js'
import { ExpiryIndex } from '../../src/state/expiryIndex.js'
import { StateStore } from '../../src/state/stateStore.js'

type Op = { add: [number, number] } | { take: number }

const ops = fc.array(
  fc.oneof(
    fc.tuple(fc.integer({ min: -5, max: 40 }), fc.nat()).map((add): Op => ({ add })),
    fc.integer({ min: -6, max: 42 }).map((take): Op => ({ take })),
  ),
  { maxLength: 80 },
)

describe('the expiry index', () => {
  it('takes exactly the items of the bounds at or below the watermark, lowest bound first, in the order added', () => {
    fc.assert(
      fc.property(ops, (script) => {
        const index = new ExpiryIndex<number>()
        let model: { bound: number; item: number; seq: number }[] = []
        let seq = 0
        for (const op of script) {
          if ('add' in op) {
            index.add(op.add[0], op.add[1])
            model.push({ bound: op.add[0], item: op.add[1], seq: seq++ })
          } else {
            const expected = model.filter((m) => m.bound <= op.take).sort((a, b) => a.bound - b.bound || a.seq - b.seq)
            model = model.filter((m) => m.bound > op.take)
            expect(index.takeUpTo(op.take)).toEqual(expected.map((m) => m.item))
          }
          expect(index.nextLive(() => true)).toBe(model.length === 0 ? undefined : Math.min(...model.map((m) => m.bound)))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('drops the items nextLive rejects once: a later call visits only the live item', () => {
    const index = new ExpiryIndex<string>()
    index.add(5, 'gone')
    index.add(5, 'also gone')
    index.add(5, 'live')
    const isLive = vi.fn((item: string) => item === 'live')
    expect(index.nextLive(isLive)).toBe(5)
    expect(isLive).toHaveBeenCalledTimes(3)
    isLive.mockClear()
    expect(index.nextLive(isLive)).toBe(5)
    expect(isLive).toHaveBeenCalledTimes(1)
    expect(index.takeUpTo(5)).toEqual(['live'])
  })

  it('holds nothing after clear()', () => {
    const index = new ExpiryIndex<string>()
    index.add(5, 'a')
    index.add(1, 'b')
    index.clear()
    expect(index.nextLive(() => true)).toBeUndefined()
    expect(index.takeUpTo(Infinity)).toEqual([])
  })

  it('refuses a NaN bound, which no watermark would ever reach', () => {
    expect(() => new ExpiryIndex<string>().add(Number.NaN, 'a')).toThrow(new RangeError('an expiry bound cannot be NaN'))
  })
})

describe('eviction by watermark in the state store', () => {
  it('visits only the entries that expire: one lookup per expiring entry and no scan of the store', () => {
    const store = new StateStore('dropDuplicates', 4, t.string, t.number)
    store.evictsBy((entry) => entry.value as number)
    for (let i = 0; i < 10_000; i++) store.put(`k${i}`, `k${i}`, undefined, 1_000 + (i % 100) * 10)
    store.takeDeltas()
    const lookups = vi.spyOn(store.entries, 'get')
    const scans = [vi.spyOn(store.entries, 'values'), vi.spyOn(store.entries, 'forEach'), vi.spyOn(store.entries, 'keys')]
    const evicted = store.evictUpTo(1_020)
    expect(evicted.map((e) => e.value)).toEqual([...Array<number>(100).fill(1_000), ...Array<number>(100).fill(1_010), ...Array<number>(100).fill(1_020)])
    expect(lookups).toHaveBeenCalledTimes(300)
    for (const scan of scans) expect(scan).not.toHaveBeenCalled()
    expect(store.size).toBe(9_700)
    expect(store.takeDeltas().flatMap((d) => d.removes)).toHaveLength(300)
    expect(store.evictUpTo(1_020)).toEqual([])
    expect(store.nextExpiry).toBe(1_030)
  })

  it('skips an entry removed, or removed and created again, since it was indexed', () => {
    const store = new StateStore('s', 1, t.string, t.number)
    store.evictsBy((entry) => entry.value as number)
    store.put('a', 'a', undefined, 5)
    store.put('b', 'b', undefined, 5)
    store.remove('a')
    store.remove('b')
    store.put('b', 'b', undefined, 50)
    expect(store.nextExpiry).toBe(50)
    expect(store.evictUpTo(10)).toEqual([])
    expect(store.evictUpTo(50).map((e) => e.id)).toEqual(['b'])
  })

  it('rebuilds the index as a restore brings entries back, and skips the entries a later delta removed', () => {
    const store = new StateStore('s', 2, t.string, t.number)
    store.evictsBy((entry) => entry.value as number)
    store.put('gone', 'gone', undefined, 1)
    store.clear()
    store.restore('a', 'a', undefined, 30, undefined, 0, 30)
    store.restore('b', 'b', undefined, 10, undefined, 1, 10)
    store.restore('c', 'c', undefined, 5, undefined, 1, 5)
    store.forget('c')
    expect(store.nextExpiry).toBe(10)
    expect(store.evictUpTo(20).map((e) => e.id)).toEqual(['b'])
  })
})

const SECOND = 1_000
type Click = { user: string; ts: number }

/** The executor of the one stateful operator of a query, built as a start would build it. */
function executorOf(outputMode: OutputMode, build: (s: ReturnType<typeof clicks>) => { planNodes: readonly unknown[] }): StatefulExec {
  const nodes = build(clicks()).planNodes
  return instantiate(compilePlan(nodes as never, outputMode), 4).operators[0]!
}

function clicks() {
  return createSession().readStream(memorySource<Click>().source)
}

const context = (batchId: number, watermarkMs: number, outputMode: OutputMode): BatchContext => ({
  batchId, watermarkMs, hasWatermark: true, watermarkDelayMs: 5 * SECOND, processingTimeMs: 0, outputMode,
})

describe('watermark eviction in the operators', () => {
  it('a windowed count in append mode emits and evicts the closed windows without scanning the other windows', () => {
    const exec = executorOf('append', (s) =>
      s.pipe(withWatermark((c) => c.ts, '5 seconds'), groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } }), count()),
    )
    const rows: Click[] = []
    for (let w = 0; w < 50; w++) for (let u = 0; u < 20; u++) rows.push({ user: `u${u}`, ts: w * 10 * SECOND + u })
    expect(exec.run(rows, context(0, 0, 'append'))).toEqual([])
    const scan = vi.spyOn(exec.store.entries, 'values')
    const out = exec.run([], context(1, 30 * SECOND, 'append')) as { key: string; window: { end: number }; count: number }[]
    expect(scan).not.toHaveBeenCalled()
    expect(out).toHaveLength(60)
    expect(out.every((r) => r.window.end <= 30 * SECOND && r.count === 1)).toBe(true)
    expect(exec.store.size).toBe(940)
    expect(exec.needsNoDataBatch(30 * SECOND, 0)).toBe(false)
    expect(exec.needsNoDataBatch(40 * SECOND, 0)).toBe(true)
    expect(scan).not.toHaveBeenCalled()
  })

  it('dropDuplicates within the watermark forgets expired keys without scanning the others', () => {
    const exec = executorOf('append', (s) =>
      s.pipe(withWatermark((c) => c.ts, '5 seconds'), dropDuplicates((c) => c.user, t.string, { within: (c) => c.ts })),
    )
    const rows = Array.from({ length: 1_000 }, (_, i) => ({ user: `u${i}`, ts: i * SECOND }))
    expect(exec.run(rows, context(0, 0, 'append'))).toHaveLength(1_000)
    const scan = vi.spyOn(exec.store.entries, 'values')
    exec.run([], context(1, 105 * SECOND, 'append'))
    expect(scan).not.toHaveBeenCalled()
    // Keys expire at their event time + 5 s: those of 0 … 100 s are at or below the watermark of 105 s.
    expect(exec.store.size).toBe(899)
    expect(exec.run([{ user: 'u0', ts: 200 * SECOND }, { user: 'u200', ts: 200 * SECOND }], context(2, 105 * SECOND, 'append'))).toEqual([{ user: 'u0', ts: 200 * SECOND }])
  })
})
