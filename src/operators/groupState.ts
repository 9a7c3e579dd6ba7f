import { parseDuration } from '../util/duration.js'

/**
 * The state of one group handed to `mapGroupsWithState`'s `update`, as Spark's GroupState: read it, replace it,
 * remove it, and set a timeout. Changes take effect when `update` returns; if `update` throws, none do.
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
    this.value = initial.value
    this.timeoutAt = initial.timeoutAt
  }

  /** Whether the group has state. */
  get exists(): boolean {
    return this.present
  }

  /** The state. @throws Error when it does not exist (check `exists` or use `getOption`). */
  get(): S {
    if (!this.present) throw new Error('GroupState.get(): the group has no state (check state.exists first)')
    return this.value as S
  }

  /** The state, or undefined. */
  getOption(): S | undefined {
    return this.present ? this.value : undefined
  }

  /** Replaces the state. */
  update(value: S): void {
    if (value === undefined) throw new TypeError('GroupState.update(): state cannot be undefined; use remove()')
    this.value = value
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
