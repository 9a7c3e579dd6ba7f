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

  it('refuses to write a value without a JSON form, naming its type and the file, and writes nothing', async () => {
    const path = join(dir(), 'x')
    const error = await rejectionOf(writeCheckpointJson(nodeFs, path, undefined))
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toBe(`cannot write undefined to checkpoint file ${path}: no JSON form`)
    expect(((await rejectionOf(writeCheckpointJson(nodeFs, path, () => 1))) as Error).message).toBe(
      `cannot write function to checkpoint file ${path}: no JSON form`,
    )
    expect(await nodeFs.exists(path)).toBe(false)
  })

  it('names a damaged file as its file system describes it (an object URL), for the envelope, JSON and codec failures', async () => {
    const described = { ...nodeFs, describe: (path: string) => `s3://bucket${path}` }
    const path = join(dir(), 'commits', '3')
    await writeCheckpointFile(nodeFs, path, '{not json')
    expect(await rejectionOf(readCheckpointJson(described, path, Commit))).toMatchObject({ path: `s3://bucket${path}`, reason: expect.stringMatching(/^body is not JSON: /) })
    await writeCheckpointJson(nodeFs, path, { batchWatermarkMs: 'x', note: null })
    expect(await rejectionOf(readCheckpointJson(described, path, Commit))).toMatchObject({ path: `s3://bucket${path}`, reason: '.batchWatermarkMs: expected number, got "x"' })
    await fsp.writeFile(path, 'no envelope')
    const error = await rejectionOf(readCheckpointFile(described, path))
    expect(error).toMatchObject({ path: `s3://bucket${path}`, reason: 'missing version line' })
    expect((error as Error).message).toBe(`checkpoint file s3://bucket${path} is corrupted: missing version line`)
  })

  it('a value that is not an object fails its codec with the reason alone, without a codec path', async () => {
    const path = join(dir(), 'commits', '4')
    await writeCheckpointJson(nodeFs, path, 7)
    const error = await rejectionOf(readCheckpointJson(nodeFs, path, Commit))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).reason).not.toMatch(/^[.:]/)
    expect((error as CheckpointCorruptedError).reason).toMatch(/7/)
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
