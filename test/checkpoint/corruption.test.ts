/**
 * A damaged checkpoint file is never used silently: a flipped byte or a truncation is a
 * CheckpointCorruptedError naming the file, a newer version line a CheckpointVersionError naming the file and both
 * versions — raised by `start()` (every file a restart needs is read before the first batch runs) or, for the
 * JSON files sink's manifest, by `readJsonFilesSink`. Nothing reaches the sink after the error.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { CURRENT_FORMAT_VERSION, NEWEST_READABLE_FORMAT_VERSION } from '../../src/durable/format.js'
import {
  CheckpointCorruptedError,
  CheckpointVersionError,
  count,
  createSession,
  foreachBatch,
  groupBy,
  jsonFiles,
  jsonFilesSink,
  readJsonFilesSink,
  trigger,
} from '../../src/index.js'
import { fixture } from './clickQuery.js'
import { rejectionOf, useTempDir } from './tempDir.js'

/** How a file is damaged. */
type Damage = 'flip a body byte' | 'truncate' | 'version line v9'

/** Splits a checkpoint file into its two header lines and its body. */
function partsOf(bytes: Buffer): { header: Buffer; body: Buffer } {
  const first = bytes.indexOf(0x0a)
  const second = bytes.indexOf(0x0a, first + 1)
  return { header: bytes.subarray(0, second + 1), body: bytes.subarray(second + 1) }
}

async function damage(path: string, how: Damage): Promise<void> {
  const bytes = await readFile(path)
  const { header, body } = partsOf(bytes)
  if (body.length === 0) throw new Error(`${path} has an empty body: pick a file with content`)
  switch (how) {
    case 'flip a body byte': {
      const flipped = Buffer.from(bytes)
      flipped[header.length + Math.floor(body.length / 2)]! ^= 0x01
      await writeFile(path, flipped)
      break
    }
    case 'truncate':
      await writeFile(path, bytes.subarray(0, header.length + Math.floor(body.length / 2)))
      break
    case 'version line v9':
      await writeFile(path, Buffer.concat([Buffer.from('v9'), bytes.subarray(bytes.indexOf(0x0a))]))
      break
  }
}

/** The largest file named `name` in any state partition of the count operator (some partitions may be empty). */
async function stateFile(checkpoint: string, name: string): Promise<string> {
  const dir = join(checkpoint, 'state', 'count')
  const candidates: { path: string; size: number }[] = []
  for (const entry of ['.', ...(await readdir(dir))]) {
    const partition = entry
    const path = join(dir, partition, name)
    const size = await stat(path).then((s) => s.size, () => -1)
    if (size >= 0) candidates.push({ path, size })
  }
  candidates.sort((a, b) => b.size - a.size)
  if (candidates.length === 0) throw new Error(`no state file ${name} under ${dir}`)
  return candidates[0]!.path
}

/** A kind of checkpoint file, how to make a checkpoint that has one a restart must read, and where it is. */
interface FileKind {
  readonly kind: string
  readonly files: number
  readonly snapshotInterval: number
  readonly path: (checkpoint: string) => Promise<string>
}

const restartFiles: FileKind[] = [
  { kind: 'metadata', files: 3, snapshotInterval: 10, path: async (c) => join(c, 'metadata') },
  { kind: 'offsets/N (the latest)', files: 3, snapshotInterval: 10, path: async (c) => join(c, 'offsets', '2') },
  { kind: 'commits/N (the latest)', files: 3, snapshotInterval: 10, path: async (c) => join(c, 'commits', '2') },
  { kind: 'a state delta', files: 3, snapshotInterval: 10, path: (c) => stateFile(c, '1.delta') },
  { kind: 'a state snapshot', files: 3, snapshotInterval: 2, path: (c) => stateFile(c, '2.snapshot') },
  { kind: 'sources/0/N of jsonFiles', files: 3, snapshotInterval: 10, path: async (c) => join(c, 'sources', '0', '1') },
  { kind: 'sources/0/N.compact of jsonFiles', files: 12, snapshotInterval: 10, path: async (c) => join(c, 'sources', '0', '9.compact') },
]

const damages: Damage[] = ['flip a body byte', 'truncate', 'version line v9']

describe('a damaged checkpoint file', () => {
  const dir = useTempDir()

  for (const file of restartFiles) {
    for (const how of damages) {
      const expected = how === 'version line v9' ? 'CheckpointVersionError' : 'CheckpointCorruptedError'
      it(`${file.kind}, ${how}: start() rejects with ${expected} naming it, and the sink gets nothing more`, async () => {
        const f = await fixture(dir(), { files: file.files, snapshotInterval: file.snapshotInterval, sink: 'counts' })
        const path = await file.path(f.checkpoint)
        const delivered = [...f.batches.keys()]
        await damage(path, how)
        await f.addFile()

        const error = await rejectionOf(f.start())
        if (how === 'version line v9') {
          expect(error).toBeInstanceOf(CheckpointVersionError)
          expect(error).toMatchObject({ path, foundVersion: 9, supportedVersion: NEWEST_READABLE_FORMAT_VERSION })
        } else {
          expect(error).toBeInstanceOf(CheckpointCorruptedError)
          expect(error).toMatchObject({ path })
        }
        await new Promise((resolve) => setTimeout(resolve, 30))
        expect([...f.batches.keys()]).toEqual(delivered)
      })
    }
  }

  it('leaves no lock behind when start() rejects, so the query can start once the file is repaired', async () => {
    const f = await fixture(dir(), { files: 2, snapshotInterval: 10, sink: 'counts' })
    const path = join(f.checkpoint, 'commits', '1')
    const good = await readFile(path)
    await damage(path, 'flip a body byte')
    await rejectionOf(f.start())
    expect(await readdir(f.checkpoint)).not.toContain('lock')
    await writeFile(path, good)
    await f.addFile()
    await (await f.start()).awaitTermination()
    expect([...f.batches.keys()]).toEqual([0, 1, 2])
  })

  for (const how of damages) {
    const expected = how === 'version line v9' ? 'CheckpointVersionError' : 'CheckpointCorruptedError'
    it(`the JSON files sink's _manifest/N, ${how}: readJsonFilesSink rejects with ${expected} naming it`, async () => {
      const f = await fixture(dir(), { files: 3, snapshotInterval: 10, sink: 'files' })
      expect(await readJsonFilesSink(f.out)).toHaveLength(6)
      const path = join(f.out, '_manifest', '1')
      await damage(path, how)
      const error = await rejectionOf(readJsonFilesSink(f.out))
      expect(error).toBeInstanceOf(how === 'version line v9' ? CheckpointVersionError : CheckpointCorruptedError)
      expect(error).toMatchObject({ path })
    })
  }
})
