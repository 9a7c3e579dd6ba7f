/**
 * Directory renames that survive a crash. `CheckpointFs` has no rename (queries never need one); the offline
 * rescale swaps whole state directories, so it renames on the real file system and fsyncs the parent.
 */
import { constants as fsConstants } from 'node:fs'
import * as fsp from 'node:fs/promises'
import { dirname } from 'node:path'
import { errorCode } from '../checkpoint/fs.js'

/**
 * Renames `from` to `to` (same parent directory) and fsyncs that directory, so the rename is on disk when this
 * resolves.
 * @example await renameDurably('/ckpt/state/count', '/ckpt/state/count.old')
 * @throws the Node error of the rename (code 'ENOENT' when `from` is missing, 'ENOTEMPTY' when `to` is a non-empty
 * directory) or of the fsync.
 */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fsp.rename(from, to)
  await fsyncDirectory(dirname(to))
  if (dirname(from) !== dirname(to)) await fsyncDirectory(dirname(from))
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(dir, fsConstants.O_RDONLY)
  } catch (error) {
    // Windows cannot open a directory to fsync it; the rename itself is all there is.
    if (['EISDIR', 'EPERM'].includes(errorCode(error) ?? '')) return
    throw error
  }
  try {
    await handle.sync()
  } catch (error) {
    if (!['EINVAL', 'EBADF', 'EPERM', 'EISDIR'].includes(errorCode(error) ?? '')) throw error
  } finally {
    await handle.close()
  }
}
