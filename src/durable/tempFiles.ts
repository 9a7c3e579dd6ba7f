/**
 * The litter of crashed atomic writes: temp files named by `tempPathFor` that their process never renamed into place.
 * Readers never see them (`readdir` hides dot files); sweeping them keeps a long-lived directory from filling up.
 */
import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Name of the temp file `writeFileAtomic` writes before renaming it over `path`: `.<basename>.<pid>.<token>.tmp`
 * in the same directory (a rename is only atomic within one file system).
 * @example
 * tempPathFor('/ckpt/offsets/3', 'a1b2') // '/ckpt/offsets/.3.<pid>.a1b2.tmp'
 * @throws never.
 */
export function tempPathFor(path: string, token: string = nextTempToken()): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${token}.tmp`)
}

/** Random per process, so a later process that gets the same pid does not meet its predecessor's litter. */
let tempTokenPrefix: string | undefined
let tempTokenCount = 0

/** A token no other temp file of this process has: the process's random prefix and a counter, in hex. */
function nextTempToken(): string {
  tempTokenPrefix ??= randomBytes(4).toString('hex')
  return `${tempTokenPrefix}${(tempTokenCount++).toString(16)}`
}

const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/

function isDeadPid(pid: number): boolean {
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * Removes the temp files of atomic writes (`.<name>.<pid>.<token>.tmp`) under `root` whose process is gone; lock
 * claims and files of live processes stay. Returns the paths removed.
 * @example await sweepTempFiles('/ckpt') // ['/ckpt/offsets/.3.4242.a1b2.tmp']
 * @throws file-system errors other than a missing `root`.
 */
export async function sweepTempFiles(root: string): Promise<string[]> {
  let names: string[]
  try {
    names = await fsp.readdir(root, { recursive: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const removed: string[] = []
  for (const name of names) {
    const m = TEMP_NAME.exec(basename(name))
    if (m === null || m[1]!.startsWith('lock') || !isDeadPid(Number(m[2]))) continue
    await fsp.rm(join(root, name), { force: true }).catch(() => undefined)
    removed.push(join(root, name))
  }
  return removed
}
