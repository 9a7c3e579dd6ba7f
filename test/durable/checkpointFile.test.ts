import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { faultyFs, SimulatedCrash, type FaultKind } from '../../src/durable/faultFs.js'
import {
  readCheckpointFile,
  readCheckpointJson,
  writeCheckpointFile,
  writeCheckpointJson,
} from '../../src/durable/format.js'
import { nodeFs } from '../../src/durable/fs.js'
import { CheckpointCorruptedError } from '../../src/errors.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

const Commit = t.type({ batchWatermarkMs: t.number, note: t.union([t.string, t.null]) })

describe('checkpoint files on disk', () => {
  const dir = useTempDir()

  it('reads back the body it wrote', async () => {
    const path = join(dir(), 'metadata')
    await writeCheckpointFile(nodeFs, path, 'line 1\nline 2 é')
    expect(await readCheckpointFile(nodeFs, path)).toBe('line 1\nline 2 é')
    expect((await fsp.readFile(path, 'utf8')).startsWith('v2\ncrc32=')).toBe(true)
  })

  it('reading a missing file rejects with code ENOENT', async () => {
    expect(await rejectionOf(readCheckpointFile(nodeFs, join(dir(), 'nope')))).toMatchObject({ code: 'ENOENT' })
  })

  it('reads back a JSON value through its codec', async () => {
    const path = join(dir(), 'commits', '3')
    await writeCheckpointJson(nodeFs, path, Commit.encode({ batchWatermarkMs: 42, note: null }))
    expect(await readCheckpointJson(nodeFs, path, Commit)).toEqual({ batchWatermarkMs: 42, note: null })
  })

  it('a value failing its codec is CheckpointCorruptedError naming the file and the codec path', async () => {
    const path = join(dir(), 'commits', '3')
    await writeCheckpointJson(nodeFs, path, { batchWatermarkMs: 'x', note: null })
    const error = await rejectionOf(readCheckpointJson(nodeFs, path, Commit))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path, reason: '.batchWatermarkMs: expected number, got "x"' })
  })

  it('a body that is not JSON is CheckpointCorruptedError naming the file', async () => {
    const path = join(dir(), 'commits', '3')
    await writeCheckpointFile(nodeFs, path, '{not json')
    const error = await rejectionOf(readCheckpointJson(nodeFs, path, Commit))
    expect(error).toMatchObject({ path, reason: expect.stringMatching(/^body is not JSON: /) })
  })

  it('a flipped byte on disk is CheckpointCorruptedError naming the file', async () => {
    const path = join(dir(), 'commits', '3')
    await writeCheckpointJson(nodeFs, path, { batchWatermarkMs: 1, note: null })
    const bytes = await fsp.readFile(path)
    bytes[bytes.length - 3] ^= 0x01
    await fsp.writeFile(path, bytes)
    const error = await rejectionOf(readCheckpointJson(nodeFs, path, Commit))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path })
  })

  it('refuses to write a value without a JSON form', async () => {
    expect(await rejectionOf(writeCheckpointJson(nodeFs, join(dir(), 'x'), undefined))).toBeInstanceOf(TypeError)
  })

  it('a torn rewrite leaves the previous file intact and readable', async () => {
    const path = join(dir(), 'metadata')
    await writeCheckpointFile(nodeFs, path, 'old body')
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(writeCheckpointFile(fs, path, 'new body, longer'))).toBeInstanceOf(SimulatedCrash)
    expect(await readCheckpointFile(nodeFs, path)).toBe('old body')
  })

  it.each<FaultKind>(['crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO'])(
    'a rewrite failing with %s leaves either the old or the new file, never a damaged one',
    async (kind) => {
      const path = join(dir(), 'metadata')
      await writeCheckpointFile(nodeFs, path, 'old body')
      await rejectionOf(writeCheckpointFile(faultyFs(nodeFs, { at: 0, kind }), path, 'new body'))
      expect(['old body', 'new body']).toContain(await readCheckpointFile(nodeFs, path))
    },
  )
})
