import * as t from 'io-ts'
import { afterEach, describe, expect, it } from 'vitest'
import { count, filter, groupBy, mapGroupsWithState, type StreamingQuery } from '../../src/index.js'
import { type Running, startQuery } from './support.js'

interface Click {
  readonly user: string
}
const clicks = (...users: string[]): Click[] => users.map((user) => ({ user }))

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
})

async function countsPerUser(outputMode: 'update' | 'complete'): Promise<Running<Click, { key: string; count: number }>> {
  const r = await startQuery<Click, { key: string; count: number }>(
    (s) => s.pipe(groupBy((c) => c.user, t.string), count()),
    { outputMode },
  )
  started.push(r.query)
  return r
}

describe('what the sink receives per output mode', () => {
  it('update mode sends only the groups the batch changed, with their new values', async () => {
    const q = await countsPerUser('update')
    await q.feed(clicks('a', 'b', 'c'))
    await q.feed(clicks('b', 'b'))
    expect(q.batches.get(1)).toEqual([{ key: 'b', count: 3 }])
  })

  it('update mode sends a group once per batch, however many of its rows the batch has', async () => {
    const q = await countsPerUser('update')
    await q.feed(clicks('a', 'a', 'a'))
    expect(q.batches.get(0)).toEqual([{ key: 'a', count: 3 }])
  })

  it('complete mode sends the whole result table every batch', async () => {
    const q = await countsPerUser('complete')
    await q.feed(clicks('a', 'b'))
    await q.feed(clicks('b'))
    expect(q.batches.get(1)).toEqual([{ key: 'a', count: 1 }, { key: 'b', count: 2 }])
  })

  it('a memory sink in update mode holds the table upserted by key', async () => {
    const q = await countsPerUser('update')
    await q.feed(clicks('a', 'b'))
    await q.feed(clicks('b'))
    expect(q.sink.rows()).toEqual([{ key: 'a', count: 1 }, { key: 'b', count: 2 }])
  })

  it('a memory sink in complete mode holds the rows of the last batch', async () => {
    const q = await countsPerUser('complete')
    await q.feed(clicks('a'))
    await q.feed(clicks('b'))
    expect(q.sink.rows()).toEqual([{ key: 'a', count: 1 }, { key: 'b', count: 1 }])
  })

  it('append mode sends each row of a stateless query once, in order', async () => {
    const q = await startQuery<Click, Click>((s) => s.pipe(filter((c) => c.user !== 'x')), { outputMode: 'append' })
    started.push(q.query)
    await q.feed(clicks('a', 'x', 'b'))
    await q.feed(clicks('c'))
    expect(q.sink.rows()).toEqual(clicks('a', 'b', 'c'))
    expect([...q.batches.values()]).toEqual([clicks('a', 'b'), clicks('c')])
  })

  // Keys that decode to class instances (a Date has no own enumerable fields) must not all read "{}" when the sink
  // upserts by key.
  it('a memory sink in update mode keeps one row per key also when keys decode to class instances (Date)', async () => {
    const DateFromEpochMs = new t.Type<Date, number, unknown>(
      'DateFromEpochMs',
      (u): u is Date => u instanceof Date,
      (u, c) => (typeof u === 'number' ? t.success(new Date(u)) : t.failure(u, c)),
      (d) => d.getTime(),
    )
    const q = await startQuery<{ day: number }, { key: Date; count: number }>(
      (s) => s.pipe(groupBy((r) => new Date(r.day), DateFromEpochMs), count()),
      { outputMode: 'update' },
    )
    started.push(q.query)
    await q.feed([{ day: 0 }, { day: 86_400_000 }, { day: 0 }])
    expect(q.batches.get(0)).toEqual([
      { key: new Date(0), count: 2 },
      { key: new Date(86_400_000), count: 1 },
    ])
    expect(q.sink.rows()).toEqual([
      { key: new Date(0), count: 2 },
      { key: new Date(86_400_000), count: 1 },
    ])
  })

  it('the session table of a named query is its memory sink table', async () => {
    const q = await startQuery<Click, { key: string; count: number }>((s) => s.pipe(groupBy((c) => c.user, t.string), count()), {
      outputMode: 'complete',
      queryName: 'counts',
    })
    started.push(q.query)
    await q.feed(clicks('a'))
    expect(q.session.table('counts')).toEqual([{ key: 'a', count: 1 }])
  })

  it('mapGroupsWithState calls update once per group and batch, with all of its rows in arrival order', async () => {
    const calls: [string, string[]][] = []
    const q = await startQuery<{ user: string; page: string }, unknown>(
      (s) =>
        s.pipe(
          groupBy((c) => c.user, t.string),
          mapGroupsWithState({
            name: 'pages',
            version: 1,
            state: t.array(t.string),
            update: (user, rows, state) => {
              calls.push([user, rows.map((r) => r.page)])
              state.update([...(state.getOption() ?? []), ...rows.map((r) => r.page)])
              return state.get().length
            },
          }),
        ),
      { outputMode: 'update' },
    )
    started.push(q.query)
    await q.feed([{ user: 'a', page: 'p1' }, { user: 'b', page: 'p2' }, { user: 'a', page: 'p3' }])
    await q.feed([{ user: 'a', page: 'p4' }])
    expect(calls).toEqual([['a', ['p1', 'p3']], ['b', ['p2']], ['a', ['p4']]])
    expect(q.batches.get(1)).toEqual([{ key: 'a', pages: 3 }])
  })
})
