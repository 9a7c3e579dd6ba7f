/**
 * A directory of one checkpoint file per batch (`offsets/`, `commits/`), as Spark's HDFSMetadataLog: the file name
 * is the batchId, the body is the codec-encoded value as JSON.
 */
import { join } from 'node:path'
import type * as t from 'io-ts'
import { type CheckpointFs, errorCode } from './fs.js'
import { readCheckpointJson, writeCheckpointJson } from './format.js'

/** Only canonical decimal names are batches: '007' or '3.tmp' are someone else's files. */
const BATCH_ID_NAME = /^(0|[1-9]\d*)$/

function checkBatchId(batchId: number): void {
  if (!Number.isSafeInteger(batchId) || batchId < 0) throw new RangeError(`invalid batchId ${batchId}`)
}

/**
 * A log of values keyed by batchId, one atomic checkpoint file per batch under `dir`.
 * @example
 * const offsets = new BatchLog(nodeFs, join(checkpointLocation, 'offsets'), OffsetsCodec)
 * await offsets.add(0, { sources: ['0'] })
 * await offsets.latest() // { batchId: 0, value: { sources: ['0'] } }
 */
export class BatchLog<A> {
  /**
   * @param fs every read and write goes through it.
   * @param dir the log's directory; created on the first `add`.
   * @param codec validates what is read and encodes what is written.
   */
  constructor(
    private readonly fs: CheckpointFs,
    readonly dir: string,
    private readonly codec: t.Type<A, unknown, unknown>,
  ) {}

  /**
   * Path of the file of `batchId`.
   * @example
   * log.pathOf(3) // '<dir>/3'
   * @throws RangeError if `batchId` is not a non-negative safe integer.
   */
  pathOf(batchId: number): string {
    checkBatchId(batchId)
    return join(this.dir, String(batchId))
  }

  /**
   * Writes the entry of `batchId` atomically, replacing an existing one (re-running a batch after a crash writes the
   * same value again; a torn earlier attempt only left a temp file). With `after`, the entry appears only once those
   * writes have succeeded, and not at all if one fails.
   * @example
   * await log.add(3, value)
   * @throws RangeError for an invalid batchId; the file-system error of the write (e.g. code 'ENOSPC'); the first
   * failure of `after`.
   */
  async add(batchId: number, value: A, after: readonly Promise<unknown>[] = []): Promise<void> {
    await writeCheckpointJson(this.fs, this.pathOf(batchId), this.codec.encode(value), after)
  }

  /**
   * The entry of `batchId`, or undefined if there is none.
   * @example
   * const value = await log.get(3)
   * @throws CheckpointCorruptedError naming the file when it fails its checksum or codec; CheckpointVersionError
   * when it was written by a newer format; other file-system errors.
   */
  async get(batchId: number): Promise<A | undefined> {
    try {
      return await readCheckpointJson(this.fs, this.pathOf(batchId), this.codec)
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined
      throw error
    }
  }

  /**
   * The entry with the highest batchId, or undefined for an empty log. A corrupt latest entry is an error, not
   * skipped: writes are atomic, so corruption means the disk lost data and silently using an older batch would
   * replay or lose output.
   * @example
   * const last = await log.latest() // { batchId: 7, value } | undefined
   * @throws the errors of {@link BatchLog.get}.
   */
  async latest(): Promise<{ batchId: number; value: A } | undefined> {
    const ids = await this.batchIds()
    for (let i = ids.length - 1; i >= 0; i--) {
      const batchId = ids[i]
      const value = await this.get(batchId)
      // Only a file removed between listing and reading (a concurrent purge) is skipped.
      if (value !== undefined) return { batchId, value }
    }
    return undefined
  }

  /**
   * The batchIds present, ascending; other names and temp files are ignored.
   * @example
   * await log.batchIds() // [0, 1, 2, 10]
   * @throws the file-system error of listing the directory (a missing directory is an empty log).
   */
  async batchIds(): Promise<number[]> {
    const names = await this.fs.readdir(this.dir)
    return names
      .filter((name) => BATCH_ID_NAME.test(name))
      .map(Number)
      .filter(Number.isSafeInteger)
      .sort((a, b) => a - b)
  }

  /**
   * Removes every entry with a batchId below `batchId`, oldest first, so a crash midway leaves a contiguous log.
   * @example
   * await log.purgeBefore(90) // keeps 90, 91, …
   * @throws the file-system error of a removal.
   */
  async purgeBefore(batchId: number): Promise<void> {
    for (const id of await this.batchIds()) {
      if (id >= batchId) break
      await this.fs.remove(this.pathOf(id))
    }
  }
}
