/**
 * A file larger than the longest string V8 can hold (~512 MiB) is read as a stream of lines. The file is generated
 * here (lines padded with spaces, so the rows stay small in memory) and deleted afterwards; on a disk without room
 * for it the test is skipped with a message.
 */
import { open, mkdtemp, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSession, foreachBatch, jsonFiles, trigger } from '../../src/index.js'

export const BIG_FILE_BYTES = 600 * 1024 * 1024
const LINE_BYTES = 1024 * 1024

/** Whether the temp dir's file system has room for the big file plus a margin; warns when it has not. */
export async function roomForBigFile(dir: string): Promise<boolean> {
  const s = await statfs(dir)
  const free = s.bavail * s.bsize
  if (free >= BIG_FILE_BYTES * 2) return true
  console.warn(`skipping the > 512 MiB file test: ${dir} has ${Math.round(free / 2 ** 20)} MiB free, needs ${(BIG_FILE_BYTES * 2) / 2 ** 20} MiB`)
  return false
}

/** Writes `rows` lines of 1 MiB each (a small JSON object padded with spaces); returns the ids written. */
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

const room = await roomForBigFile(tmpdir())

describe.skipIf(!room)('jsonFiles: a file larger than 512 MiB', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srx-bigfile-'))
    await writeBigFile(join(dir, 'big.json'), BIG_FILE_BYTES / LINE_BYTES)
  }, 120_000)
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('is read as a stream of lines: every row arrives, none is cut', async () => {
    let n = 0
    let idSum = 0
    const q = await createSession()
      .readStream(jsonFiles(dir, { codec: t.type({ id: t.number }) }))
      .writeStream({
        outputMode: 'append',
        sink: foreachBatch<{ id: number }>((rows) => {
          n += rows.length
          for (const r of rows) idSum += r.id
        }),
        trigger: trigger.availableNow(),
      })
      .start()
    await q.awaitTermination()
    const rows = BIG_FILE_BYTES / LINE_BYTES
    expect(n).toBe(rows)
    expect(idSum).toBe((rows * (rows - 1)) / 2)
  }, 180_000)
})
