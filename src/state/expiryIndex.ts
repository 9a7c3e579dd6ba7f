/**
 * Entries indexed by the event time at which the watermark lets them go (a window's end, a deduplication key's
 * expiry), so a batch finds what its watermark evicts by visiting only those entries instead of every key.
 */

/**
 * A min-heap of distinct bounds, each with the items added under it. `takeUpTo(w)` removes and returns the items of
 * every bound ≤ w in bound order (in the order added within a bound) and touches nothing else: adding is O(log b)
 * for a new bound (b distinct bounds) and O(1) for a known one, taking is O(log b) per bound taken.
 * @example
 * const index = new ExpiryIndex<string>()
 * index.add(10, 'a'); index.add(5, 'b'); index.add(10, 'c')
 * index.takeUpTo(9) // ['b']
 * index.takeUpTo(10) // ['a', 'c']
 */
export class ExpiryIndex<T> {
  private readonly heap: number[] = []
  private readonly items = new Map<number, T[]>()

  /**
   * The lowest bound that holds an item `isLive` accepts, or undefined when none does. Items it rejects (removed
   * since they were added) are dropped on the way, each once, so this visits one live item plus the dropped ones.
   */
  nextLive(isLive: (item: T) => boolean): number | undefined {
    while (this.heap.length > 0) {
      const bound = this.heap[0]!
      const items = this.items.get(bound)!
      const live = items.findIndex(isLive)
      if (live >= 0) {
        if (live > 0) items.splice(0, live)
        return bound
      }
      this.takeUpTo(bound)
    }
    return undefined
  }

  /**
   * Adds `item` under `bound`.
   * @throws RangeError when `bound` is NaN (it would never be taken).
   */
  add(bound: number, item: T): void {
    const known = this.items.get(bound)
    if (known !== undefined) {
      known.push(item)
      return
    }
    if (Number.isNaN(bound)) throw new RangeError('an expiry bound cannot be NaN')
    this.items.set(bound, [item])
    const heap = this.heap
    let i = heap.push(bound) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]! <= bound) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = bound
  }

  /** Removes and returns the items of every bound ≤ `upTo`, lowest bound first. */
  takeUpTo(upTo: number): T[] {
    const taken: T[] = []
    while (this.heap.length > 0 && this.heap[0]! <= upTo) {
      const bound = this.popMin()
      for (const item of this.items.get(bound)!) taken.push(item)
      this.items.delete(bound)
    }
    return taken
  }

  clear(): void {
    this.heap.length = 0
    this.items.clear()
  }

  private popMin(): number {
    const heap = this.heap
    const min = heap[0]!
    const last = heap.pop()!
    if (heap.length === 0) return min
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && heap[right]! < heap[left]! ? right : left
      if (heap[child]! >= last) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = last
    return min
  }
}
