import { freeze, produce, type Draft } from 'immer'
import { parseDuration } from '../util/duration.js'

/**
 * A recipe for {@link GroupState.update}: edit the draft in place, or return a whole new state.
 * @example
 * const addClicks: StateRecipe<{ clicks: number }> = (draft) => { draft.clicks += 1 }
 * state.update(addClicks)
 */
export type StateRecipe<S> = (draft: Draft<S>) => S | void | undefined

/**
 * The state of one group handed to `mapGroupsWithState`'s `update`, as Spark's GroupState: read it, change it,
 * remove it, and set a timeout. Changes take effect when `update` returns; if `update` throws, none do. The state
 * it hands out is deeply frozen: committed state can only change through `update`, never by editing what `get()`
 * returned (that throws a TypeError at the line that tries), so output rows and sinks cannot alter it either.
 * @example update: (user, clicks, state) => { state.update((state.getOption() ?? 0) + clicks.length); return state.get() }
 */
export class GroupState<S> {
  private value: S | undefined
  private present: boolean
  /** Epoch ms at which the group times out, or undefined. */
  timeoutAt: number | undefined
  private changed = false

  constructor(
    initial: { exists: boolean; value?: S; timeoutAt?: number },
    /** True when `update` is called because the group timed out (with no rows). */
    readonly hasTimedOut: boolean,
    private readonly clock: { processingTimeMs: number; watermarkMs: number; timeout: 'none' | 'processingTime' | 'eventTime' },
  ) {
    this.present = initial.exists
    this.value = initial.exists ? freeze(initial.value, true) : undefined
    this.timeoutAt = initial.timeoutAt
  }

  /** Whether the group has state. */
  get exists(): boolean {
    return this.present
  }

  /** The state, deeply frozen. @throws Error when it does not exist (check `exists` or use `getOption`). */
  get(): S {
    if (!this.present) throw new Error('GroupState.get(): the group has no state (check state.exists first)')
    return this.value as S
  }

  /** The state (deeply frozen), or undefined. */
  getOption(): S | undefined {
    return this.present ? this.value : undefined
  }

  /**
   * Changes the state: either a recipe that edits a draft of the current state (immer's `produce`: mutate the draft
   * or return a new value; without state the draft is undefined, so return the first value), or a whole new value.
   * Only the parts a recipe touches are copied, and the new state is frozen.
   * @example
   * state.update((draft) => { draft.events.push(e); draft.total += e.amount })
   * state.update({ events: [e], total: e.amount })
   * @throws TypeError when the new state is undefined (use remove()); whatever the recipe throws (state unchanged).
   */
  update(next: S | StateRecipe<S>): void {
    const value =
      typeof next === 'function' ? (produce(this.present ? this.value : undefined, next as never) as S) : next
    if (value === undefined) {
      throw new TypeError(
        typeof next === 'function'
          ? 'GroupState.update(recipe): the recipe left the state undefined (a group without state gets an undefined draft: return its first value); use remove() to drop state'
          : 'GroupState.update(): state cannot be undefined; use remove()',
      )
    }
    this.value = freeze(value, true)
    this.present = true
    this.changed = true
  }

  /** Removes the state (and its timeout). */
  remove(): void {
    this.value = undefined
    this.present = false
    this.timeoutAt = undefined
    this.changed = true
  }

  /** Times the group out after `duration` of processing time without data (timeout: 'processingTime'). */
  setTimeoutDuration(duration: number | string): void {
    if (this.clock.timeout !== 'processingTime') {
      throw new Error("GroupState.setTimeoutDuration() needs mapGroupsWithState({ timeout: 'processingTime' })")
    }
    this.timeoutAt = this.clock.processingTimeMs + parseDuration(duration, 'setTimeoutDuration')
    this.changed = true
  }

  /** Times the group out once the watermark passes `timestampMs` (timeout: 'eventTime'). */
  setTimeoutTimestamp(timestampMs: number): void {
    if (this.clock.timeout !== 'eventTime') {
      throw new Error("GroupState.setTimeoutTimestamp() needs mapGroupsWithState({ timeout: 'eventTime' })")
    }
    if (timestampMs <= this.clock.watermarkMs) {
      throw new RangeError(`GroupState.setTimeoutTimestamp(${timestampMs}) is not after the watermark ${this.clock.watermarkMs}`)
    }
    this.timeoutAt = timestampMs
    this.changed = true
  }

  /** The current watermark in epoch ms. */
  getCurrentWatermarkMs(): number {
    return this.clock.watermarkMs
  }

  /** The processing time of this batch in epoch ms. */
  getCurrentProcessingTimeMs(): number {
    return this.clock.processingTimeMs
  }

  /** Whether `update` changed the state or its timeout. */
  get isChanged(): boolean {
    return this.changed
  }
}
