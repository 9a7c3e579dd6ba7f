import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CheckpointCorruptedError, nodeFs } from '../../src/index.js'
import { encodeCheckpointFile } from '../../src/durable/format.js'
import { filesForVersion, listStateFiles, purgeable, readStateFile, readStateLines, type StateFileName } from '../../src/state/stateFileList.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

const tempDir = useTempDir()
const file = (batchId: number, kind: 'delta' | 'snapshot'): StateFileName => ({ batchId, kind, name: `${batchId}.${kind}` })
const names = (files: readonly StateFileName[]) => files.map((f) => f.name)

describe('the state files of a directory', () => {
  it('are the <batchId>.delta and .snapshot names, in batch order with a delta before its snapshot', async () => {
    const dir = tempDir()
    const present = ['10.delta', '2.snapshot', '2.delta', '0.delta', 'x2.delta', '2.delta.tmp', '01.delta', '3.snapshot.old', 'metadata']
    for (const name of present) await writeFile(join(dir, name), '')
    expect(names(await listStateFiles(nodeFs, dir))).toEqual(['0.delta', '2.delta', '2.snapshot', '10.delta'])
  })

  it('that make up a version are its latest snapshot at or before it and the deltas after that, none past the version', () => {
    const files = [file(0, 'delta'), file(1, 'delta'), file(2, 'delta'), file(2, 'snapshot'), file(3, 'delta'), file(4, 'delta'), file(5, 'delta')]
    expect(names(filesForVersion(files, 4))).toEqual(['2.snapshot', '3.delta', '4.delta'])
    expect(names(filesForVersion(files, 1))).toEqual(['0.delta', '1.delta'])
  })

  it('that can go are those of batches before the latest snapshot at or before the oldest version kept, and none without one', () => {
    const files = [file(0, 'delta'), file(1, 'delta'), file(1, 'snapshot'), file(2, 'delta'), file(3, 'delta'), file(3, 'snapshot'), file(4, 'delta')]
    expect(names(purgeable(files, 2))).toEqual(['0.delta'])
    expect(names(purgeable(files, 4))).toEqual(['0.delta', '1.delta', '1.snapshot', '2.delta'])
    expect(purgeable(files.slice(0, 2), 4)).toEqual([])
  })
})

describe('reading a state file', () => {
  const read = async (body: string): Promise<unknown[]> => {
    const path = join(tempDir(), '1.delta')
    await writeFile(path, encodeCheckpointFile(body))
    const seen: unknown[] = []
    await readStateFile(nodeFs, path, (header) => (item, lineNo) => seen.push([header.stateVersion, item, lineNo]))
    return seen
  }

  it('hands on each entry line after the header, parsed, with its line number', async () => {
    expect(await read('{"stateVersion":3}\n{"u":{"k":"a","s":1}}\n')).toEqual([[3, { u: { k: 'a', s: 1 } }, 2]])
  })

  it.each([
    ['a line that is not JSON', '{"stateVersion":1}\n{"u":\n', 'line 2 is not JSON'],
    ['no header line', '', 'line 1 is not a state file header {"stateVersion":n}'],
    ['an entry where the header belongs', '{"u":{"k":"a","s":1}}\n', 'line 1 is not a state file header {"stateVersion":n}'],
    ['null where the header belongs', 'null\n', 'line 1 is not a state file header {"stateVersion":n}'],
  ])('refuses %s with CheckpointCorruptedError naming the file and line', async (_what, body, reason) => {
    const error = await rejectionOf(read(body))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as Error).message).toContain('1.delta')
    expect((error as Error).message).toContain(reason)
  })

  it('gives the same lines, numbers and refusals from a body held as one string as from the file streamed from disk', async () => {
    const dir = tempDir()
    let n = 0
    // What a reader sees: each visited line with its number, or the refusal that stopped it.
    const outcome = async (visit: (open: (h: { stateVersion: number }) => (item: unknown, lineNo: number) => void) => Promise<void> | void) => {
      const seen: unknown[] = []
      try {
        await visit((header) => (item, lineNo) => seen.push([header.stateVersion, item, lineNo]))
      } catch (error) {
        seen.push(error instanceof CheckpointCorruptedError ? error.message : error)
      }
      return seen
    }
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.constantFrom('{"u":', '')), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        async (lines, header, trailingNewline) => {
          const body = [...(header ? ['{"stateVersion":2}'] : []), ...lines].join('\n') + (trailingNewline ? '\n' : '')
          const path = join(dir, `${n++}.delta`)
          await writeFile(path, encodeCheckpointFile(body))
          const streamed = await outcome((open) => readStateFile(nodeFs, path, open))
          expect(await outcome((open) => readStateLines(path, body, open))).toEqual(streamed)
        },
      ),
      { numRuns: 200 },
    )
  })
})
