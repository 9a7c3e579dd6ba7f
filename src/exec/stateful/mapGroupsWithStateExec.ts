import type { MapGroupsWithStateNode } from '../../plan/nodes.js'
import type { MapGroupsWithStateOperatorSpec } from '../../plan/plan.js'
import { GroupState } from '../../operators/groupState.js'
import { StateStore, type StateEntry, type TaskOwnership } from '../../state/stateStore.js'
import { OperatorFailure } from '../../errors.js'
import type { BatchContext, StatefulExec } from '../batch.js'
import { Grouping } from './grouping.js'

/**
 * The incremental form of `mapGroupsWithState`: calls `update` once per group with the batch's rows of that group,
 * then once per timed-out group without rows, and emits `{ key, [name]: output }` for each defined output.
 */
export class MapGroupsWithStateExec implements StatefulExec {
  readonly store: StateStore
  readonly numRowsDroppedByWatermark = 0
  removalsTimeMs = 0
  private readonly name: string
  private readonly node: MapGroupsWithStateNode
  private readonly grouping: Grouping
  private readonly update: (key: unknown, rows: unknown[], state: GroupState<unknown>) => unknown

  constructor(
    readonly spec: MapGroupsWithStateOperatorSpec,
    partitions: number,
    patchDeltas = true,
    owner?: TaskOwnership,
  ) {
    this.name = spec.name
    this.node = spec.node
    this.grouping = new Grouping(spec.groupBy, spec.groupByLabel, spec.keyCodec)
    this.store = new StateStore(spec.name, partitions, spec.keyCodec, spec.stateCodec, patchDeltas, owner)
    this.update = spec.node.update as (key: unknown, rows: unknown[], state: GroupState<unknown>) => unknown
  }

  /** The batch's rows so far, grouped by key id in order of first appearance. */
  private groups = new Map<string, { key: unknown; rows: unknown[] }>()

  run(rows: unknown[], ctx: BatchContext): unknown[] {
    this.begin()
    this.add(rows)
    return this.finish(ctx)
  }

  begin(): void {
    this.groups = new Map()
  }

  /** Groups the rows: `update` sees each group's rows of the whole batch, so nothing is called before `finish`. */
  add(rows: unknown[]): void {
    const { groups } = this
    for (const row of rows) {
      const key = this.grouping.keyOfRow(row)
      const id = this.grouping.idOf(key)
      const group = groups.get(id)
      if (group === undefined) groups.set(id, { key, rows: [row] })
      else group.rows.push(row)
    }
  }

  finish(ctx: BatchContext): unknown[] {
    const { groups } = this
    this.groups = new Map()
    const out: unknown[] = []
    for (const [id, group] of groups) this.call(id, group.key, group.rows, false, ctx, out)
    // Timed-out groups are this operator's removal phase: each is called once more and usually removed.
    const started = performance.now()
    for (const entry of this.timedOut(ctx)) {
      if (!groups.has(entry.id)) this.call(entry.id, entry.key, [], true, ctx, out)
    }
    this.removalsTimeMs = performance.now() - started
    return out
  }

  private call(id: string, key: unknown, rows: unknown[], timedOut: boolean, ctx: BatchContext, out: unknown[]): void {
    const entry = this.store.get(id)
    const state = new GroupState<unknown>(
      { exists: entry !== undefined, value: entry?.value },
      timedOut,
      { processingTimeMs: ctx.processingTimeMs, watermarkMs: ctx.watermarkMs, timeout: this.node.timeout },
    )
    let output: unknown
    try {
      output = this.update(key, rows, state)
    } catch (e) {
      throw new OperatorFailure(this.name, e)
    }
    if (state.exists) {
      const next = this.store.put(id, key, undefined, state.get())
      next.timeoutAt = state.timeoutAt
    } else if (entry !== undefined) {
      this.store.remove(id)
    }
    if (output !== undefined) out.push({ key, [this.node.name]: output })
  }

  private *timedOut(ctx: BatchContext): Iterable<StateEntry> {
    if (this.node.timeout === 'none') return
    for (const entry of [...this.store.values()]) {
      if (entry.timeoutAt !== undefined && this.expired(entry.timeoutAt, ctx.processingTimeMs, ctx.watermarkMs)) {
        yield entry
      }
    }
  }

  private expired(timeoutAt: number, nowMs: number, watermarkMs: number): boolean {
    return this.node.timeout === 'processingTime' ? timeoutAt <= nowMs : timeoutAt < watermarkMs
  }

  needsNoDataBatch(nextWatermarkMs: number, nowMs: number): boolean {
    if (this.node.timeout === 'none') return false
    for (const entry of this.store.values()) {
      if (entry.timeoutAt !== undefined && this.expired(entry.timeoutAt, nowMs, nextWatermarkMs)) return true
    }
    return false
  }
}
