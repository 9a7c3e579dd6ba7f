import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { aggregate, GroupState, groupBy, mapGroupsWithState } from '../../src/index.js'
import { from, lastValueFrom, type OperatorFunction, toArray } from 'rxjs'

/** Runs the reference (plain RxJS) semantics and returns what it errored with. */
async function referenceError(rows: string[], op: OperatorFunction<never, unknown>): Promise<unknown> {
  const grouped = from(rows).pipe(groupBy((s: string) => s.slice(0, 1), t.string) as unknown as OperatorFunction<string, never>, op, toArray())
  return lastValueFrom(grouped).then(() => undefined, (e: unknown) => e)
}

const clock = { processingTimeMs: 1000, watermarkMs: 500, timeout: 'none' as const }
type Cart = { items: string[]; total: number }

describe('GroupState.update with a recipe', () => {
  it('applies the edits made to the draft, leaving the previous state untouched', () => {
    const before: Cart = { items: ['a'], total: 1 }
    const state = new GroupState<Cart>({ exists: true, value: before }, false, clock)
    state.update((draft) => {
      draft.items.push('b')
      draft.total += 2
    })
    expect(state.get()).toEqual({ items: ['a', 'b'], total: 3 })
    expect(before).toEqual({ items: ['a'], total: 1 })
    expect(state.isChanged).toBe(true)
  })

  it('takes the value a recipe returns, and gives a group without state an undefined draft', () => {
    const state = new GroupState<Cart>({ exists: false }, false, clock)
    state.update((draft) => {
      expect(draft).toBeUndefined()
      return { items: ['x'], total: 1 }
    })
    state.update((draft) => ({ ...draft, total: 9 }))
    expect(state.get()).toEqual({ items: ['x'], total: 9 })
  })

  it('works on a primitive state', () => {
    const state = new GroupState<number>({ exists: true, value: 4 }, false, clock)
    state.update((n) => n + 1)
    expect(state.get()).toBe(5)
  })

  it('rejects a recipe that leaves a group without state undefined, naming remove()', () => {
    const state = new GroupState<Cart>({ exists: false }, false, clock)
    expect(() => state.update(() => undefined)).toThrow(/the recipe left the state undefined.*remove\(\)/)
    expect(state.exists).toBe(false)
  })

  it('leaves the state as it was when the recipe throws', () => {
    const state = new GroupState<Cart>({ exists: true, value: { items: [], total: 0 } }, false, clock)
    expect(() =>
      state.update((draft) => {
        draft.total = 99
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(state.get()).toEqual({ items: [], total: 0 })
  })
})

describe('state handed to user code', () => {
  it('is deeply frozen, from get(), getOption() and after update(value)', () => {
    const state = new GroupState<Cart>({ exists: true, value: { items: ['a'], total: 1 } }, false, clock)
    expect(() => state.get().items.push('b')).toThrow(TypeError)
    expect(() => {
      state.getOption()!.total = 2
    }).toThrow(TypeError)
    const mine: Cart = { items: [], total: 0 }
    state.update(mine)
    expect(Object.isFrozen(mine.items)).toBe(true)
  })

  it('is frozen in the reference semantics of mapGroupsWithState: mutating it throws at that line', async () => {
    const op = mapGroupsWithState<{ key: string; value: string }, Cart, number, 'n'>({
      name: 'n',
      version: 1,
      state: t.type({ items: t.array(t.string), total: t.number }),
      update: (_k, rows, state) => {
        if (state.exists) state.get().items.push(...rows)
        else state.update({ items: rows, total: rows.length })
        return state.get().items.length
      },
    })
    expect(await referenceError(['k1', 'k2'], op as never)).toBeInstanceOf(TypeError)
  })

  it('is frozen in the reference semantics of aggregate: an add that mutates its input throws', async () => {
    const op = aggregate<{ key: string; value: string }, Cart, number, 'cart'>({
      name: 'cart',
      version: 1,
      state: t.type({ items: t.array(t.string), total: t.number }),
      zero: () => ({ items: [], total: 0 }),
      add: (s, r) => {
        s.items.push(r)
        return s
      },
      result: (s) => s.items.length,
    })
    expect(await referenceError(['k1', 'k2'], op as never)).toBeInstanceOf(TypeError)
  })
})
