/**
 * What a checkpoint lock file holds (pid, host, runId, epoch, heartbeat…) and how one is read: see `lock.ts` for the
 * protocol that creates, checks and releases them.
 */
import * as t from 'io-ts'
import { type CheckpointFs, errorCode } from './fs.js'
import { decodeCheckpointFile } from './format.js'

const LockFileCodec = t.intersection([
  t.type({ pid: t.number, hostname: t.string, runId: t.string, queryName: t.union([t.string, t.null]), startedAt: t.string }),
  // Lock files of older versions have none of these; a plain `lock` file is epoch 0.
  t.partial({
    epoch: t.number,
    procStart: t.union([t.string, t.null]),
    bootId: t.union([t.string, t.null]),
    heartbeatAt: t.string,
    released: t.boolean,
  }),
])
/** The content of a lock file. */
export type LockFile = t.TypeOf<typeof LockFileCodec>

/** Who a lock file names: pid, hostname, runId, queryName, startedAt, and (when written by this version) epoch and heartbeat. */
export type LockHolder = LockFile

/** The holder as an error message names it. */
export function describe(holder: LockFile): string {
  const name = holder.queryName === null ? '' : `query "${holder.queryName}", `
  const beat = holder.heartbeatAt === undefined ? '' : `, last heartbeat ${holder.heartbeatAt}`
  return `${name}runId ${holder.runId}, pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}${beat}`
}

/** A lock file's holder, 'unreadable' if it does not parse, undefined if it is gone. */
export async function readLock(fs: CheckpointFs, path: string): Promise<LockFile | 'unreadable' | undefined> {
  let raw: Buffer
  try {
    raw = await fs.readFile(path)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  }
  return parseLock(path, raw)
}

/** The holder a lock file's bytes name, or 'unreadable'. */
export function parseLock(path: string, raw: Buffer): LockFile | 'unreadable' {
  try {
    const decoded = LockFileCodec.decode(JSON.parse(decodeCheckpointFile(path, raw).body))
    return decoded._tag === 'Right' ? decoded.right : 'unreadable'
  } catch {
    // A lock torn by a crash, or from a newer format: its writer is gone or will recreate it; judge it stale.
    return 'unreadable'
  }
}
