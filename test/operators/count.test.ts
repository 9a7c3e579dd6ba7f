import * as t from 'io-ts'
import { concat, from, throwError } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { count, groupBy } from '../../src/index.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

interface Click {
  readonly user: string
  readonly ts: number
}
const clicks: Click[] = [{ user: 'a', ts: 1000 }, { user: 'b', ts: 2000 }, { user: 'a', ts: 12_000 }]

describe('count', () => {
  it("emits the group's updated { key, count } after each row", () => {
    expect(emitted(clicks, groupBy((c: Click) => c.user, t.string), count())).toEqual([
      { key: 'a', count: 1 },
      { key: 'b', count: 1 },
      { key: 'a', count: 2 },
    ])
  })

  it('counts each (key, window) separately and includes the window in the row', () => {
    const byWindow = groupBy((c: Click) => c.user, t.string, { window: { time: (c) => c.ts, size: '10 seconds' } })
    expect(emitted(clicks, byWindow, count())).toEqual([
      { key: 'a', window: { start: 0, end: 10_000 }, count: 1 },
      { key: 'b', window: { start: 0, end: 10_000 }, count: 1 },
      { key: 'a', window: { start: 10_000, end: 20_000 }, count: 1 },
    ])
  })

  it('gives rows of a group without a window no window field at all, as the engine does', () => {
    const rows = emitted<object>(clicks, groupBy((c: Click) => c.user, t.string), count())
    expect(rows).toStrictEqual([{ key: 'a', count: 1 }, { key: 'b', count: 1 }, { key: 'a', count: 2 }])
    expect(rows.map((r) => Object.keys(r))).toEqual([['key', 'count'], ['key', 'count'], ['key', 'count']])
  })

  it('passes the upstream error and completion on, after the rows before them', () => {
    const seen: unknown[] = []
    const boom = new Error('source failed')
    concat(from(clicks.slice(0, 1)), throwError(() => boom))
      .pipe(groupBy((c: Click) => c.user, t.string), count())
      .subscribe({ next: (r) => seen.push(r), error: (e: unknown) => seen.push(['error', e]), complete: () => seen.push('complete') })
    expect(seen).toEqual([{ key: 'a', count: 1 }, ['error', boom]])
    seen.length = 0
    from(clicks.slice(0, 1))
      .pipe(groupBy((c: Click) => c.user, t.string), count())
      .subscribe({ next: (r) => seen.push(r), error: (e: unknown) => seen.push(['error', e]), complete: () => seen.push('complete') })
    expect(seen).toEqual([{ key: 'a', count: 1 }, 'complete'])
  })

  it('starts from zero on every subscription (the reference keeps no state between runs)', () => {
    const op = count<{ key: string; value: Click }>()
    const grouped = groupBy((c: Click) => c.user, t.string)
    expect(emitted(clicks.slice(0, 1), grouped, op)).toEqual([{ key: 'a', count: 1 }])
    expect(emitted(clicks.slice(0, 1), grouped, op)).toEqual([{ key: 'a', count: 1 }])
  })

  it("carries an aggregate plan node named 'count' whose state is a plain number", () => {
    const node = count()[PLAN]
    expect(node).toMatchObject({ kind: 'aggregate', name: 'count', version: 1 })
    if (node.kind !== 'aggregate') throw new Error('not an aggregate node')
    expect(node.aggregator.state.is(3)).toBe(true)
    expect(node.aggregator.result(node.aggregator.add(node.aggregator.zero(), {}))).toEqual({ count: 1 })
  })
})
