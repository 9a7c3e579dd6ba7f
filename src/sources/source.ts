/**
 * sources/ — replayable streaming sources, one file each, all written against the `Source` / `SourceReader`
 * contract below. Their logs go through the durable layer's `CheckpointFs`, so a crash can be injected anywhere.
 */
import type { CheckpointFs } from '../durable/fs.js'
import type { Offset } from '../util/json.js'

export type { Offset }

/**
 * What the query gives a source when it opens it.
 * @example const ctx: SourceContext = { fs: nodeFs, logDir: '/ckpt/q1/sources/0', restarting: true }
 */
export interface SourceContext {
  /** The file system that checkpoint I/O goes through (fault-injectable in tests). */
  readonly fs: CheckpointFs
  /** The source's own log directory, `<checkpoint>/sources/<i>`, or undefined without a checkpoint. */
  readonly logDir: string | undefined
  /** Whether this open is a restart from an existing checkpoint. */
  readonly restarting: boolean
}

/**
 * A replayable streaming source (Spark's Source / MicroBatchStream): offsets are JSON, and `getBatch(start, end)`
 * returns the same rows every time it is asked for the same range.
 * @example
 * const numbers: Source<{ n: number }> = memorySource<{ n: number }>().source
 * session.readStream(numbers)
 */
export interface Source<T> {
  /** Shown in progress and `explain()`, e.g. `MemorySource[3 rows]`. */
  readonly description: string
  /** The kind and identity of the source, recorded in the checkpoint's plan fingerprint. */
  readonly kind: string
  readonly identity: string
  open(ctx: SourceContext): Promise<SourceReader<T>>
}

/**
 * An opened source.
 * @example
 * const reader = await source.open({ fs: nodeFs, logDir: undefined, restarting: false })
 * const end = await reader.latestOffset(reader.initialOffset(), 'all')
 * const rows = await reader.getBatch(reader.initialOffset(), end)
 */
export interface SourceReader<T> {
  /** The offset before any data. */
  initialOffset(): Offset
  /**
   * The end offset of the next batch starting at `start`: at most the source's rate limit past it (e.g.
   * `maxFilesPerTrigger`), or everything available when `limit` is 'all' (trigger.once).
   */
  latestOffset(start: Offset, limit: 'default' | 'all'): Promise<Offset>
  /** The rows in `(start, end]`. */
  getBatch(start: Offset, end: Offset): Promise<T[]>
  /**
   * The rows of `getBatch(start, end)`, in the same order, handed to `onBlock` a block at a time as they are read
   * (blocks of bounded size; the source does not keep a block once `onBlock` returns), resolving to the number of
   * rows. The engine folds each block before the next is read, so a batch's rows die young instead of living until
   * the whole batch is read. An error `onBlock` throws ends the read with that error. Optional: without it, the
   * batch is `getBatch`'s array as one block.
   */
  readBatch?(start: Offset, end: Offset, onBlock: (rows: T[]) => void): Promise<number>
  /** Everything up to `end` is committed: the source may forget it. */
  commit(end: Offset): Promise<void>
  /** trigger.availableNow: fix the end of what is available now; later `latestOffset` calls must not go past it. */
  prepareForTriggerAvailableNow?(): Promise<void>
  /** Registers a wake-up for new data (so a waiting query need not poll). Returns an unsubscribe function. */
  onDataAvailable?(listener: () => void): () => void
  /** Source-specific counters for progress (e.g. `numBadRecords`). */
  metrics?(): Record<string, number>
  /** How an offset is shown in progress, when not as itself (the file source shows `{ logOffset: n }`, as Spark). */
  progressOffset?(offset: Offset): unknown
  stop(): Promise<void>
}
