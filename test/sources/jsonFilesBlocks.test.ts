import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { jsonFiles, nodeFs } from '../../src/index.js'
import { useTempDirs } from '../support/tempDirs.js'

const tempDir = useTempDirs()
const Row = t.type({ file: t.number, i: t.number, pad: t.string })
type Row = t.TypeOf<typeof Row>

/** The text the source decodes as one block (`jsonLines.ts`): no block holds more rows than fit in it. */
const BLOCK_BYTES = 64 * 1024

async function openReader(dir: string, maxConcurrentReads: number) {
  const logDir = join(await tempDir('log'), 'sources', '0')
  return jsonFiles(dir, { codec: Row, maxConcurrentReads }).open({ fs: nodeFs, logDir, restarting: false })
}

/** Writes file f with `sizes[f]` rows (`pad` long), named so name order is file order; returns every row in that order. */
async function writeFiles(dir: string, sizes: readonly number[], pad: number): Promise<Row[]> {
  const all: Row[] = []
  await Promise.all(
    sizes.map((n, file) => {
      const rows = Array.from({ length: n }, (_, i) => ({ file, i, pad: 'x'.repeat((i * 7) % pad) }))
      all.push(...rows)
      return writeFile(join(dir, `part-${String(file).padStart(3, '0')}.jsonl`), rows.map((r) => JSON.stringify(r) + '\n').join(''))
    }),
  )
  return all.sort((a, b) => a.file - b.file || a.i - b.i)
}

describe('jsonFiles read block by block', () => {
  it('hands every row of a batch to readBatch in file and line order, in bounded blocks, as getBatch returns them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 900, max: 2_500 })), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 4 }),
        async (sizes, concurrency) => {
          const dir = await tempDir('blocks')
          const expected = await writeFiles(dir, sizes, 90)
          const reader = await openReader(dir, concurrency)
          const end = await reader.latestOffset(reader.initialOffset(), 'all')
          const blocks: Row[][] = []
          const n = await reader.readBatch!(reader.initialOffset(), end, (block) => blocks.push(block))
          expect(n).toBe(expected.length)
          expect(blocks.flat()).toEqual(expected)
          // A line is at least 30 bytes: a block of 64 KiB of text holds fewer rows than that allows.
          for (const block of blocks) {
            expect(block.length).toBeGreaterThan(0)
            expect(block.length).toBeLessThanOrEqual(BLOCK_BYTES / 30)
          }
          if (expected.length * 30 > 2 * BLOCK_BYTES) expect(blocks.length).toBeGreaterThan(1)
          expect(await reader.getBatch(reader.initialOffset(), end)).toEqual(expected)
          await reader.stop()
        },
      ),
      { numRuns: 25 },
    )
  })

  it('ends the read with the error the consumer throws, and hands it nothing after that', async () => {
    const dir = await tempDir('blocks')
    await writeFiles(dir, [1_500, 1_500, 1_500], 90)
    const reader = await openReader(dir, 3)
    const end = await reader.latestOffset(reader.initialOffset(), 'all')
    let calls = 0
    const failure = new Error('the fold failed')
    await expect(
      reader.readBatch!(reader.initialOffset(), end, () => {
        calls++
        throw failure
      }),
    ).rejects.toBe(failure)
    expect(calls).toBe(1)
    await reader.stop()
  })
})
