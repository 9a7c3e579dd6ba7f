import type { AggregateNode, Window } from '../../plan/nodes.js'
import type { AggregateOperatorSpec } from '../../plan/plan.js'
import { StateStore, type StateEntry, type TaskOwnership } from '../../state/stateStore.js'
import { OperatorFailure } from '../../errors.js'
import type { BatchContext, StatefulExec } from '../batch.js'
import { keyIdOf, windowedId } from '../../util/keys.js'
import { lastWindowStart, windowsOf } from '../../operators/internal/windows.js'
import { Grouping } from './grouping.js'

/**
 * The incremental form of `groupBy(...)` + an aggregation: folds each batch into keyed state and emits, per output
 * mode, the changed groups (update), every group (complete) or the windows the watermark closed (append).
 */
export class AggregateExec implements StatefulExec {
  readonly store: StateStore
  numRowsDroppedByWatermark = 0
  removalsTimeMs = 0
  /** The watermark of the last batch, below which no state is left. */
  private evictedThroughMs = -Infinity
  private readonly name: string
  private readonly node: AggregateNode
  private readonly grouping: Grouping
  /** Whether the watermark closes windows: a watermark exists, keys are windowed and the mode is not complete. */
  private readonly evicts: boolean
  /** The batch's watermark below which rows are late (-Infinity when nothing is evicted). */
  private lateBelowMs = -Infinity
  /** For the length of a windowed batch: each key id's last window start and entry (see `foldWindowed`). */
  private readonly last = new Map<string, { start: number; entry: StateEntry }>()

  constructor(
    readonly spec: AggregateOperatorSpec,
    partitions: number,
    patchDeltas = true,
    owner?: TaskOwnership,
  ) {
    this.name = spec.name
    this.node = spec.node
    this.grouping = new Grouping(spec.groupBy, spec.groupByLabel, spec.keyCodec)
    this.evicts = spec.evictsByWatermark
    this.store = new StateStore(spec.name, partitions, spec.keyCodec, spec.stateCodec, patchDeltas, owner)
    // A window goes once the watermark passes its end: the store indexes windows by end, so a batch visits only those.
    if (this.evicts) this.store.evictsBy((entry) => entry.window!.end)
  }

  run(rows: unknown[], ctx: BatchContext): unknown[] {
    this.begin(ctx)
    this.add(rows)
    return this.finish(ctx)
  }

  begin(ctx: BatchContext): void {
    this.numRowsDroppedByWatermark = 0
    this.removalsTimeMs = 0
    this.lateBelowMs = this.evicts ? ctx.watermarkMs : -Infinity
    this.last.clear()
  }

  add(rows: unknown[]): void {
    if (this.grouping.windowed) this.foldWindowed(rows, this.lateBelowMs)
    else this.fold(rows)
  }

  finish(ctx: BatchContext): unknown[] {
    // What the keys remember holds entries the eviction below may remove: forgotten with the batch.
    this.last.clear()
    return this.emit(ctx)
  }

  /**
   * The hot loop for plain keys: per row one key extraction, one codec check, one map lookup and one `add`; state is
   * mutated in place and each key is marked changed once per batch. The key function and codec are read into locals
   * (io-ts's `is` and `encode` are plain closures) so nothing is looked up per row.
   */
  private fold(rows: unknown[]): void {
    const { grouping, store } = this
    const keyOf = grouping.keyOf
    const { is, encode } = grouping.keyCodec
    const agg = this.node.aggregator
    let extractingKey = false
    try {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]
        extractingKey = true
        const key = keyOf(row)
        extractingKey = false
        if (!is(key)) throw grouping.keyMismatch(key)
        const id = keyIdOf(encode(key))
        const entry = store.get(id)
        if (entry === undefined) store.put(id, key, undefined, agg.add(agg.zero(), row))
        else {
          entry.value = agg.add(entry.value, row)
          store.markChanged(entry)
        }
      }
    } catch (e) {
      if (e instanceof OperatorFailure) throw e
      throw new OperatorFailure(extractingKey ? grouping.label : this.name, e)
    }
  }

  /**
   * The hot loop for windowed keys. A key's consecutive rows mostly fall in the window of its previous row, so for
   * the length of the batch each key id remembers the window start and the entry it last added to: such a row costs
   * one lookup by key id and builds no window, window id or array. Only a row that starts another window of its key
   * builds its window id and looks it up in the store. Entries are never removed while a batch folds (in any number
   * of blocks), so what a key remembers stays the store's entry. Sliding windows (several per row) go through
   * `windowsOf`.
   */
  private foldWindowed(rows: unknown[], watermarkMs: number): void {
    const { grouping, last } = this
    const { sizeMs, slideMs } = grouping.node.window!
    const agg = this.node.aggregator
    try {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]
        const key = grouping.keyOfRow(row)
        const keyId = grouping.idOf(key)
        const time = grouping.timeOfRow(row)
        if (slideMs !== sizeMs) {
          for (const window of windowsOf(time, sizeMs, slideMs)) {
            if (window.end <= watermarkMs) this.numRowsDroppedByWatermark++
            else this.accumulate(windowedId(keyId, window), key, window, row)
          }
          continue
        }
        const start = lastWindowStart(time, slideMs)
        if (start + sizeMs <= watermarkMs) {
          this.numRowsDroppedByWatermark++
          continue
        }
        const seen = last.get(keyId)
        if (seen !== undefined && seen.start === start) {
          seen.entry.value = agg.add(seen.entry.value, row)
          continue
        }
        const window = { start, end: start + sizeMs }
        const entry = this.accumulate(windowedId(keyId, window), key, window, row)
        if (seen === undefined) last.set(keyId, { start, entry })
        else {
          seen.start = start
          seen.entry = entry
        }
      }
    } catch (e) {
      throw e instanceof OperatorFailure ? e : new OperatorFailure(this.name, e)
    }
  }

  /** Adds `row` to the state of `id`, creating it at zero; marks it changed in this batch and returns it. */
  private accumulate(id: string, key: unknown, window: Window | undefined, row: unknown): StateEntry {
    const agg = this.node.aggregator
    const entry = this.store.get(id)
    if (entry === undefined) return this.store.put(id, key, window, agg.add(agg.zero(), row))
    entry.value = agg.add(entry.value, row)
    this.store.markChanged(entry)
    return entry
  }

  private emit(ctx: BatchContext): unknown[] {
    const out: unknown[] = []
    switch (ctx.outputMode) {
      case 'complete':
        for (const entry of this.store.values()) out.push(this.resultRow(entry))
        return out
      case 'update':
        for (const entry of this.store.changedEntries()) out.push(this.resultRow(entry))
        break
      case 'append':
        break
    }
    if (this.evicts) {
      const started = performance.now()
      const closed = this.store.evictUpTo(ctx.watermarkMs)
      this.evictedThroughMs = ctx.watermarkMs
      this.removalsTimeMs = performance.now() - started
      // A window is final once the watermark passes its end: in append mode it is emitted exactly once, as it goes.
      if (ctx.outputMode === 'append') for (const entry of closed) out.push(this.resultRow(entry))
    }
    return out
  }

  private resultRow(entry: StateEntry): unknown {
    let columns: Record<string, unknown>
    try {
      columns = this.node.aggregator.result(entry.value)
    } catch (e) {
      throw new OperatorFailure(this.name, e)
    }
    return entry.window === undefined
      ? { key: entry.key, ...columns }
      : { key: entry.key, window: { start: entry.window.start, end: entry.window.end }, ...columns }
  }

  needsNoDataBatch(nextWatermarkMs: number): boolean {
    if (!this.evicts) return false
    // The last batch evicted everything at or below its watermark, and late rows cannot add such state again: only
    // a higher watermark can make a no-data batch worth running, so idle polls skip the scan of the state.
    if (nextWatermarkMs <= this.evictedThroughMs) return false
    const next = this.store.nextExpiry
    return next !== undefined && next <= nextWatermarkMs
  }
}
