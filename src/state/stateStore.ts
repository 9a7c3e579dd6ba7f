/**
 * state/ — keyed operator state: the in-memory partitioned store with its change tracking (`StateStore`), the state
 * files of one operator in each format's layout and their single replay (`OperatorStateFiles`), the encoding of one
 * entry (`stateEntries.ts`), and decoding through migrations. It knows plan specs
 * and codecs, and writes through the durable layer; it knows no executor and no checkpoint layout.
 */
import { freeze } from 'immer'
import type { ErasedCodec, Window } from '../plan/nodes.js'
import { partitionOf } from '../util/keys.js'
import { safeJson } from '../util/text.js'
import type { LineSpan } from '../durable/streamedFile.js'
import type { EncodedEntry, PartitionDelta, StateEntry } from './stateEntries.js'
import { checkOwned, type TaskOwnership } from './taskOwnership.js'
import { asPatches } from './deltaPatches.js'
import { ColdTier, type LineApplier } from './coldTier.js'
import { ExpiryIndex } from './expiryIndex.js'
import { jsonUnsafePath, prefixed } from './jsonSafety.js'

export type { TaskOwnership } from './taskOwnership.js'
export type { EncodedEntry, PartitionDelta, StateEntry } from './stateEntries.js'

/**
 * The keyed state of one stateful operator, split into `partitions` by a stable hash of the encoded key. Lookups go
 * through one map of all keys (a key's partition is computed once, when it is created); each batch records which
 * keys changed or were removed so the checkpoint can persist a delta per partition. Object state is deeply frozen
 * once a batch ends, so what user code is handed cannot change behind the store's back; with `patchDeltas`, a
 * changed object state is recorded as patches against its previous value when they are smaller than the value.
 *
 * A store restored from a snapshot keeps the snapshot's lines cold (see `coldTier.ts`) unless the watermark evicts
 * from it: a key's line becomes an entry when {@link get}, {@link put} or {@link remove} first reaches it, or when
 * {@link values} iterates; `size`, snapshots and the memory estimate count both tiers.
 */
export class StateStore {
  /** The keys that are entries (the hot tier); a restored store may hold more keys as cold lines. */
  readonly entries = new Map<string, StateEntry>()
  private cold: ColdTier | undefined
  private readonly touched = new Map<string, StateEntry>()
  private readonly removed = new Map<string, StateEntry>()
  /** Counts batches (starts at 1 so restored entries, at 0, are unchanged). */
  private epoch = 1
  /** For a store the watermark evicts from: each entry's event-time bound, and the entries indexed by it. */
  private expiry: { readonly boundOf: (entry: StateEntry) => number; readonly index: ExpiryIndex<StateEntry> } | undefined

  constructor(
    /** Stable operator name: names the state directory and errors. */
    readonly operator: string,
    readonly partitions: number,
    readonly keyCodec: ErasedCodec,
    readonly stateCodec: ErasedCodec,
    /** Whether deltas may record object state as patches (mapGroupsWithState, aggregate). */
    readonly patchDeltas = false,
    /** Set when the store belongs to one task of a partitioned query: every key must hash to that task. */
    readonly owner?: TaskOwnership,
  ) {}

  /** Keys held, entries and cold lines. */
  get size(): number {
    return this.entries.size + (this.cold?.live ?? 0)
  }

  /** The entry of `id`, made from its cold line first if it has one. */
  get(id: string): StateEntry | undefined {
    const entry = this.entries.get(id)
    if (entry !== undefined || this.cold === undefined || !this.cold.take(id)) return entry
    return this.entries.get(id)
  }

  /** Every entry, after turning every cold line into one (complete output, timeouts, tests). */
  values(): IterableIterator<StateEntry> {
    this.warmAll()
    return this.entries.values()
  }

  /** Whether a restore may keep snapshot lines cold: not when the watermark evicts, which needs every entry's bound. */
  get keepsCold(): boolean {
    return this.expiry === undefined
  }

  /** Starts keeping cold lines of another snapshot file (of `bytes` bytes); `apply` makes an entry of one when reached. */
  openColdFile(apply: LineApplier, bytes: number): void {
    ;(this.cold ??= new ColdTier()).openFile(apply, bytes)
  }

  /** Restores key `id` of `partition` as the (checked) snapshot line `span` points at, left cold. */
  restoreCold(id: string, partition: number, lineNo: number, span: LineSpan): void {
    if (this.entries.size > 0) this.entries.delete(id)
    this.cold!.add(id, partition, lineNo, span)
  }

  private warmAll(): void {
    const cold = this.cold
    this.cold = undefined
    cold?.takeAll()
  }

  /** Creates or replaces a key's state and marks it changed in this batch. */
  put(id: string, key: unknown, window: Window | undefined, value: unknown): StateEntry {
    let entry = this.get(id)
    if (entry === undefined) {
      if (this.owner !== undefined) checkOwned(this.owner, this.operator, this.keyCodec, key)
      entry = { id, key, window, partition: partitionOf(id, this.partitions), value, changedIn: 0 }
      this.entries.set(id, entry)
      this.expiry?.index.add(this.expiry.boundOf(entry), entry)
    } else {
      entry.value = value
    }
    this.markChanged(entry)
    return entry
  }

  /** Records that an entry's value (mutated in place by the hot loop) changed in this batch. */
  markChanged(entry: StateEntry): void {
    if (entry.changedIn === this.epoch) return
    entry.changedIn = this.epoch
    this.touched.set(entry.id, entry)
    this.removed.delete(entry.id)
  }

  remove(id: string): void {
    const entry = this.get(id)
    if (entry !== undefined) this.drop(entry)
  }

  private drop(entry: StateEntry): void {
    this.entries.delete(entry.id)
    this.touched.delete(entry.id)
    this.removed.set(entry.id, entry)
  }

  /**
   * Makes the watermark evict from this store: every entry, present and future, is indexed by `boundOf(entry)` (the
   * event time at and below which it goes; it must not change while the entry lives), so {@link evictUpTo} visits only
   * what expires. The index lives in memory only: a restore rebuilds it as it restores each entry.
   */
  evictsBy(boundOf: (entry: StateEntry) => number): void {
    this.warmAll()
    this.expiry = { boundOf, index: new ExpiryIndex() }
    for (const entry of this.entries.values()) this.expiry.index.add(boundOf(entry), entry)
  }

  /**
   * Removes every entry whose bound is ≤ `watermarkMs` and returns them, lowest bound first; visits no other entry.
   * @throws Error when the store was not made to evict ({@link evictsBy}).
   */
  evictUpTo(watermarkMs: number): StateEntry[] {
    if (this.expiry === undefined) throw new Error(`state of operator '${this.operator}' is not evicted by a watermark`)
    const evicted: StateEntry[] = []
    for (const entry of this.expiry.index.takeUpTo(watermarkMs)) {
      // An entry removed (or removed and created again) since it was indexed is not this one any more.
      if (this.entries.get(entry.id) !== entry) continue
      this.drop(entry)
      evicted.push(entry)
    }
    return evicted
  }

  /** The lowest bound of an entry present, or undefined when none is (or the store is not evicted by a watermark). */
  get nextExpiry(): number | undefined {
    return this.expiry?.index.nextLive((entry) => this.entries.get(entry.id) === entry)
  }

  /** Entries changed in the current batch. */
  changedEntries(): IterableIterator<StateEntry> {
    return this.touched.values()
  }

  get numRowsUpdated(): number {
    return this.touched.size
  }

  get numRowsRemoved(): number {
    return this.removed.size
  }

  /**
   * Validates and encodes this batch's changes per partition, then starts a new batch.
   * @throws TypeError naming the operator and key when a state value fails its codec.
   */
  takeDeltas(): PartitionDelta[] {
    const deltas: PartitionDelta[] = []
    const deltaOf = (p: number) =>
      (deltas[p] ??= { partition: p, upserts: [], patches: [], removes: [], removedWindows: [] })
    for (const entry of this.touched.values()) {
      if (typeof entry.value === 'object' && entry.value !== null) freeze(entry.value, true)
      const encoded = this.encode(entry)
      const patched = this.patchDeltas ? asPatches(entry, encoded) : undefined
      if (patched === undefined) {
        deltaOf(entry.partition).upserts.push(encoded)
        entry.durableBytes = undefined
      } else {
        deltaOf(entry.partition).patches.push(patched)
      }
      entry.durable = encoded.s
    }
    for (const entry of this.removed.values()) {
      const d = deltaOf(entry.partition)
      d.removes.push(this.keyCodec.encode(entry.key))
      d.removedWindows.push(entry.window ? [entry.window.start, entry.window.end] : null)
    }
    this.touched.clear()
    this.removed.clear()
    this.epoch++
    return deltas.filter((d) => d !== undefined)
  }

  /** Discards the current batch's change tracking (the batch failed; the query stops). */
  discardChanges(): void {
    this.touched.clear()
    this.removed.clear()
    this.epoch++
  }

  /** Encodes an entry through the operator's codecs, checking the state value first. */
  encode(entry: StateEntry): EncodedEntry {
    if (!this.stateCodec.is(entry.value)) {
      throw new TypeError(
        `state of operator '${this.operator}' for key ${JSON.stringify(this.keyCodec.encode(entry.key))} does not ` +
          `match its codec ${this.stateCodec.name}: ${safeJson(entry.value)}`,
      )
    }
    const out: EncodedEntry = { k: this.keyCodec.encode(entry.key), s: this.stateCodec.encode(entry.value) }
    const unsafe = jsonUnsafePath(out.s, '') ?? prefixed('key', jsonUnsafePath(out.k, ''))
    if (unsafe !== undefined) {
      throw new TypeError(
        `state of operator '${this.operator}' for key ${safeJson(out.k)} cannot be persisted: ${unsafe} ` +
          '(JSON has no NaN, Infinity, undefined in arrays, functions or bigint)',
      )
    }
    if (entry.window) out.w = [entry.window.start, entry.window.end]
    if (entry.timeoutAt !== undefined) out.t = entry.timeoutAt
    return out
  }

  /**
   * Restores one persisted entry under its id (the same id the running query computes for the key), in the
   * partition whose file held it (the files' layout always matches the checkpoint's partition count).
   */
  restore(
    id: string,
    key: unknown,
    window: Window | undefined,
    value: unknown,
    timeoutAt: number | undefined,
    partition: number,
    durable: unknown,
  ): void {
    if (typeof value === 'object' && value !== null) freeze(value, true)
    const entry: StateEntry = { id, key, window, partition, value, changedIn: 0, durable }
    if (timeoutAt !== undefined) entry.timeoutAt = timeoutAt
    this.cold?.discard(id)
    this.entries.set(id, entry)
    this.expiry?.index.add(this.expiry.boundOf(entry), entry)
  }

  /** Forgets a restored entry (a later delta removed it). */
  forget(id: string): void {
    this.entries.delete(id)
    this.cold?.discard(id)
  }

  /** Drops all state (before a restore). */
  clear(): void {
    this.entries.clear()
    this.cold = undefined
    this.expiry?.index.clear()
    this.discardChanges()
  }

  /** Every key, encoded, grouped by partition (for snapshots): entries through the codecs, cold lines as read. */
  encodeAll(): EncodedEntry[][] {
    const parts: EncodedEntry[][] = Array.from({ length: this.partitions }, () => [])
    for (const entry of this.entries.values()) parts[entry.partition]!.push(this.encode(entry))
    if (this.cold !== undefined) for (const { partition, item } of this.cold.remaining()) parts[partition]!.push(item as EncodedEntry)
    return parts
  }

  /** Estimated bytes held, for progress: the encoded size of a sample of entries times their count, plus the cold tier. */
  estimateMemoryBytes(): number {
    const cold = this.cold?.bytes ?? 0
    if (this.entries.size === 0) return cold
    let sampled = 0
    let bytes = 0
    for (const entry of this.entries.values()) {
      bytes += 64 + safeJson({ k: this.keyCodec.encode(entry.key), s: this.stateCodec.encode(entry.value) }).length * 2
      if (++sampled === 32) break
    }
    return Math.round((bytes / sampled) * this.entries.size) + cold
  }
}
