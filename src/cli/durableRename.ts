/**
 * Directory renames that survive a crash. `CheckpointFs` has no rename (queries never need one); the offline
 * rescale swaps whole state directories, so it renames on the real file system and fsyncs the parent.
 */
import * as fsp from 'node:fs/promises'
import { dirname } from 'node:path'
import { fsyncDir } from '../checkpoint/fs.js'

/**
 * Renames `from` to `to` and fsyncs the parent directories, so the rename is on disk when this resolves.
 * @example await renameDurably('/ckpt/state/count', '/ckpt/state/count.old')
 * @throws the Node error of the rename (code 'ENOENT' when `from` is missing, 'ENOTEMPTY' when `to` is a non-empty
 * directory) or of the fsync.
 */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fsp.rename(from, to)
  await fsyncDir(dirname(to))
  if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from))
}
