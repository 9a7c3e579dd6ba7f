/**
 * State files of checkpoint format v2: one file per operator per batch, `state/<operator>/<batchId>.delta` (every
 * partition the batch changed) and `<batchId>.snapshot` (every partition). The body is a header line
 * `{"stateVersion":n,"partitions":p}`, then for each partition with entries a line `{"partition":i}` followed by
 * that partition's entry lines (see `stateEntries.ts`). One atomic write per operator per batch instead of one per
 * partition: each atomic write costs a file fsync, a rename and a directory fsync.
 */
import { join } from 'node:path'
import { CheckpointCorruptedError } from '../errors.js'
import type { CheckpointFs } from '../durable/fs.js'
import { encodeCheckpointBytes } from '../durable/format.js'
import { RemovedKey, writeStateEntry } from './stateEntries.js'
import { type EntryVisitor, filesForVersion, listStateFiles, purgeable, readStateFile, type ReplayedFile, type StateFileName } from './stateFileList.js'
import type { OperatorStateFiles } from './stateFiles.js'
import type { EncodedEntry, PartitionDelta } from './stateStore.js'

/** The v2 layout: the batch's files directly in the operator's directory. */
export class OperatorBatchStateFiles implements OperatorStateFiles {
  readonly formatVersion = 2

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    private readonly partitions: number,
    private readonly stateVersion: number,
  ) {}

  /** Hands the write to the file system before returning, and returns its promise (a commit may wait on it there). */
  private write(name: string, sections: readonly { partition: number; lines: string[] }[]): Promise<void> {
    const out: string[] = [JSON.stringify({ stateVersion: this.stateVersion, partitions: this.partitions })]
    for (const { partition, lines } of sections) {
      if (lines.length === 0) continue
      out.push(`{"partition":${partition}}`)
      for (const line of lines) out.push(line)
    }
    return this.fs.writeFileAtomic(join(this.dir, name), encodeCheckpointBytes(out.join('\n'), 2))
  }

  writeDelta(batchId: number, deltas: readonly PartitionDelta[]): Promise<void> {
    if (deltas.length === 0) return Promise.resolve()
    const sections = deltas.map((delta) => {
      const lines = delta.upserts.map((u) => writeStateEntry(u, false))
      for (const patched of delta.patches) lines.push(writeStateEntry(patched, false))
      delta.removes.forEach((k, i) => lines.push(writeStateEntry(new RemovedKey(k, delta.removedWindows[i] ?? undefined), false)))
      return { partition: delta.partition, lines }
    })
    return this.write(`${batchId}.delta`, sections)
  }

  writeSnapshot(batchId: number, partitions: readonly EncodedEntry[][]): Promise<void> {
    return this.write(
      `${batchId}.snapshot`,
      partitions.map((entries, partition) => ({ partition, lines: entries.map((e) => writeStateEntry(e, true)) })),
    )
  }

  async replay(version: number, visitFile: (file: ReplayedFile) => EntryVisitor): Promise<void> {
    for (const file of filesForVersion(await listStateFiles(this.fs, this.dir), version)) {
      const path = join(this.dir, file.name)
      await readStateFile(this.fs, path, ({ stateVersion, partitions }, { bytes, span }) => {
        if (partitions !== this.partitions) {
          throw new CheckpointCorruptedError(path, `header says ${String(partitions)} partitions, the checkpoint has ${this.partitions}`)
        }
        const visit = visitFile({ ...file, path, bytes, stateVersion, formatVersion: 2, span })
        let partition = -1
        return (item, lineNo) => {
          const marker = (item as { partition?: unknown } | null)?.partition
          if (marker !== undefined) {
            if (typeof marker !== 'number' || !Number.isInteger(marker) || marker < 0 || marker >= this.partitions) {
              throw new CheckpointCorruptedError(path, `line ${lineNo}: partition ${JSON.stringify(marker)} is not one of 0..${this.partitions - 1}`)
            }
            partition = marker
          } else if (partition < 0) {
            throw new CheckpointCorruptedError(path, `line ${lineNo}: entry before the first {"partition":i} line`)
          } else {
            visit(item, lineNo, partition)
          }
        }
      })
    }
  }

  /** Every partition's state is in the operator's one directory. */
  async filesOf(): Promise<{ dir: string; files: StateFileName[] }> {
    return { dir: this.dir, files: await listStateFiles(this.fs, this.dir) }
  }

  async removeAfter(version: number): Promise<void> {
    for (const f of await listStateFiles(this.fs, this.dir)) {
      if (f.batchId > version) await this.fs.remove(join(this.dir, f.name))
    }
  }

  async purge(minVersion: number): Promise<void> {
    for (const f of purgeable(await listStateFiles(this.fs, this.dir), minVersion)) await this.fs.remove(join(this.dir, f.name))
  }
}
