/**
 * State files of checkpoint format v1: one file per shuffle partition per batch,
 * `state/<operator>/<partition>/<batchId>.delta|.snapshot`. A body is the header line `{"stateVersion":n}` and then
 * one entry line per key (see `stateEntries.ts`). Still read (and written only by tests and fixtures): a v1
 * checkpoint is upgraded to v2 the first time a query runs on it.
 */
import { join } from 'node:path'
import type { CheckpointFs } from '../durable/fs.js'
import { encodeCheckpointFile } from '../durable/format.js'
import { type EntryVisitor, filesForVersion, listStateFiles, purgeable, readStateFile, type ReplayedFile, type StateFileName } from './stateFileList.js'
import type { OperatorStateFiles } from './stateFiles.js'
import { RemovedKey, writeStateEntry } from './stateEntries.js'
import type { EncodedEntry, PartitionDelta } from './stateStore.js'

/** The v1 layout: a directory per partition under the operator's directory. */
export class PartitionedStateFiles implements OperatorStateFiles {
  readonly formatVersion = 1

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    private readonly partitions: number,
    private readonly stateVersion: number,
  ) {}

  private partitionDir(partition: number): string {
    return join(this.dir, String(partition))
  }

  private async write(path: string, lines: string[]): Promise<void> {
    await this.fs.writeFileAtomic(path, encodeCheckpointFile([JSON.stringify({ stateVersion: this.stateVersion }), ...lines].join('\n'), 1))
  }

  async writeDelta(batchId: number, deltas: readonly PartitionDelta[]): Promise<void> {
    // A v1 reader knows no patch lines, so a v1 file never holds one (the library writes v2; v1 is for fixtures).
    if (deltas.some((d) => d.patches.length > 0)) throw new RangeError('format v1 state files hold no patch lines: write them with stateDeltas \'whole\'')
    await Promise.all(
      deltas.map((delta) => {
        const lines = delta.upserts.map((u) => writeStateEntry(u, false))
        delta.removes.forEach((k, i) => lines.push(writeStateEntry(new RemovedKey(k, delta.removedWindows[i] ?? undefined), false)))
        return this.write(join(this.partitionDir(delta.partition), `${batchId}.delta`), lines)
      }),
    )
  }

  async writeSnapshot(batchId: number, partitions: readonly EncodedEntry[][]): Promise<void> {
    await Promise.all(
      partitions.map((entries, p) =>
        this.write(join(this.partitionDir(p), `${batchId}.snapshot`), entries.map((e) => writeStateEntry(e, true))),
      ),
    )
  }

  async replay(version: number, visitFile: (file: ReplayedFile) => EntryVisitor): Promise<void> {
    for (let p = 0; p < this.partitions; p++) {
      const dir = this.partitionDir(p)
      for (const file of filesForVersion(await listStateFiles(this.fs, dir), version)) {
        const path = join(dir, file.name)
        await readStateFile(this.fs, path, ({ stateVersion }, { bytes, span }) => {
          const visit = visitFile({ ...file, path, bytes, stateVersion, formatVersion: 1, span })
          return (item, lineNo) => visit(item, lineNo, p)
        })
      }
    }
  }

  async filesOf(partition: number): Promise<{ dir: string; files: StateFileName[] }> {
    const dir = this.partitionDir(partition)
    return { dir, files: await listStateFiles(this.fs, dir) }
  }

  async removeAfter(version: number): Promise<void> {
    for (let p = 0; p < this.partitions; p++) {
      for (const f of await listStateFiles(this.fs, this.partitionDir(p))) {
        if (f.batchId > version) await this.fs.remove(join(this.partitionDir(p), f.name))
      }
    }
  }

  async purge(minVersion: number): Promise<void> {
    for (let p = 0; p < this.partitions; p++) {
      const files = await listStateFiles(this.fs, this.partitionDir(p))
      for (const f of purgeable(files, minVersion)) await this.fs.remove(join(this.partitionDir(p), f.name))
    }
  }
}

/**
 * Removes the per-partition directories of the v1 layout (`state/<op>/<partition>/`) left in operator directories
 * of a checkpoint already in a later format: an upgrade that crashed after switching `metadata` leaves them.
 * @example await removeV1PartitionDirs(nodeFs, ['/ckpt/state/count'])
 * @throws the file-system error of listing or removing a directory.
 */
export async function removeV1PartitionDirs(fs: CheckpointFs, operatorDirs: readonly string[]): Promise<void> {
  for (const dir of operatorDirs) {
    for (const name of await fs.readdir(dir)) {
      if (/^\d+$/.test(name)) await fs.remove(join(dir, name))
    }
  }
}
