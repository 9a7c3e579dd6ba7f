/**
 * A JSON-lines file larger than the longest string V8 can hold (~512 MiB), for the tests that read one: lines of
 * 1 MiB, each a small object padded with spaces, so the rows stay small in memory.
 */
import { open, statfs } from 'node:fs/promises'

export const BIG_FILE_BYTES = 600 * 1024 * 1024
export const LINE_BYTES = 1024 * 1024

/** Whether the temp dir's file system has room for the big file plus a margin; warns when it has not. */
export async function roomForBigFile(dir: string): Promise<boolean> {
  const s = await statfs(dir)
  const free = s.bavail * s.bsize
  if (free >= BIG_FILE_BYTES * 2) return true
  console.warn(`skipping the > 512 MiB file test: ${dir} has ${Math.round(free / 2 ** 20)} MiB free, needs ${(BIG_FILE_BYTES * 2) / 2 ** 20} MiB`)
  return false
}

/** Writes `rows` lines of 1 MiB each: `{"id":n}` padded with spaces, ids 0 … rows-1. */
export async function writeBigFile(path: string, rows: number): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (let id = 0; id < rows; id++) {
      const head = Buffer.from(`{"id":${id}}`)
      const line = Buffer.alloc(LINE_BYTES, 0x20)
      head.copy(line)
      line[LINE_BYTES - 1] = 0x0a
      await handle.write(line)
    }
  } finally {
    await handle.close()
  }
}

