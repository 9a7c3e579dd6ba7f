/**
 * A file larger than the longest string V8 can hold (~512 MiB) is read as a stream of lines. The file is generated
 * here (lines padded with spaces, so the rows stay small in memory) and deleted afterwards; on a disk without room
 * for it the test is skipped with a message.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSession, foreachBatch, jsonFiles, trigger } from '../../src/index.js'
import { BIG_FILE_BYTES, LINE_BYTES, roomForBigFile, writeBigFile } from './bigFile.js'

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
