import fsp from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'

/** What `readdir(dir, { withFileTypes: true })` gives, as far as the listings read it. */
export interface ListedEntry {
  readonly name: string
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
}

/**
 * Runs `body` while `readdir` of `dir` (through `node:fs/promises`, which the file sources use) gives
 * `change(entries)` instead of the real entries: another order than the file system's, or names that are gone by the
 * time they are looked at. Other directories are listed as they are; the real `readdir` is back once `body` settles.
 */
export async function withListingOf<R>(dir: string, change: (entries: ListedEntry[]) => ListedEntry[], body: () => Promise<R>): Promise<R> {
  const original = fsp.readdir
  const listing = async (...args: unknown[]) => {
    const entries = (await (original as (...a: unknown[]) => Promise<ListedEntry[]>)(...args))
    return args[0] === dir ? change(entries) : entries
  }
  ;(fsp as { readdir: unknown }).readdir = listing
  syncBuiltinESMExports()
  try {
    return await body()
  } finally {
    ;(fsp as { readdir: unknown }).readdir = original
    syncBuiltinESMExports()
  }
}
