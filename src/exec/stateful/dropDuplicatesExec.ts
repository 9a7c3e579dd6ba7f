import type { DropDuplicatesOperatorSpec } from '../../plan/plan.js'
import { StateStore, type TaskOwnership } from '../../state/stateStore.js'
import type { BatchContext, StatefulExec } from '../batch.js'
import { readEventTime } from '../eventTime.js'
import { Grouping } from './grouping.js'

/**
 * The incremental form of `dropDuplicates`: a key's state is the epoch ms at which it may be forgotten
 * (first event time + watermark delay with `within`; never without it, stored as 0).
 */
export class DropDuplicatesExec implements StatefulExec {
  readonly store: StateStore
  numRowsDroppedByWatermark = 0
  removalsTimeMs = 0
  /** The watermark of the last batch, below which no state is left. */
  private evictedThroughMs = -Infinity
  private readonly name: string
  private readonly grouping: Grouping
  private readonly within: ((row: unknown) => unknown) | undefined

  constructor(
    readonly spec: DropDuplicatesOperatorSpec,
    partitions: number,
    owner?: TaskOwnership,
  ) {
    const node = spec.node
    this.name = spec.name
    this.grouping = new Grouping({ kind: 'groupBy', keyOf: node.keyOf, keyCodec: node.keyCodec }, spec.name)
    this.within = node.within as ((row: unknown) => unknown) | undefined
    this.store = new StateStore(spec.name, partitions, spec.keyCodec, spec.stateCodec, false, owner)
    // With `within`, a key goes once the watermark reaches its expiry: the store indexes keys by it.
    if (this.within !== undefined) this.store.evictsBy((entry) => entry.value as number)
  }

  /** The batch being folded: its context and the rows it keeps so far. */
  private batch: { ctx: BatchContext; out: unknown[] } | undefined

  run(rows: unknown[], ctx: BatchContext): unknown[] {
    this.begin(ctx)
    this.add(rows)
    return this.finish(ctx)
  }

  begin(ctx: BatchContext): void {
    this.numRowsDroppedByWatermark = 0
    this.removalsTimeMs = 0
    this.batch = { ctx, out: [] }
  }

  add(rows: unknown[]): void {
    const { ctx, out } = this.batch!
    for (const row of rows) {
      let expiresAt = 0
      if (this.within !== undefined) {
        const time = readEventTime(this.within, row, this.name)
        if (time < ctx.watermarkMs) {
          this.numRowsDroppedByWatermark++
          continue
        }
        expiresAt = time + ctx.watermarkDelayMs
      }
      const key = this.grouping.keyOfRow(row)
      const id = this.grouping.idOf(key)
      if (this.store.get(id) !== undefined) continue
      this.store.put(id, key, undefined, expiresAt)
      out.push(row)
    }
  }

  finish(ctx: BatchContext): unknown[] {
    const out = this.batch!.out
    this.batch = undefined
    if (this.within !== undefined) {
      const started = performance.now()
      this.store.evictUpTo(ctx.watermarkMs)
      this.evictedThroughMs = ctx.watermarkMs
      this.removalsTimeMs = performance.now() - started
    }
    return out
  }

  needsNoDataBatch(nextWatermarkMs: number): boolean {
    if (this.within === undefined) return false
    // The last batch evicted everything at or below its watermark, and late rows cannot add such state again: only
    // a higher watermark can make a no-data batch worth running, so idle polls skip the scan of the state.
    if (nextWatermarkMs <= this.evictedThroughMs) return false
    const next = this.store.nextExpiry
    return next !== undefined && next <= nextWatermarkMs
  }
}
