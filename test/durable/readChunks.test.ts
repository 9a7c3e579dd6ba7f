import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readChunksReusing } from '../../src/durable/readChunks.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-read-chunks-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const openDescriptors = async () => (await readdir('/proc/self/fd')).length

describe('reading a file in chunks through two buffers', () => {
  it('yields the file in order, in chunks of at most the size asked for', async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 64 }), async (content, size) => {
        const path = join(dir, `f${n++}`)
        await writeFile(path, content)
        const copies: Buffer[] = []
        for await (const chunk of readChunksReusing(path, size)) {
          expect(chunk.byteLength).toBeGreaterThan(0)
          expect(chunk.byteLength).toBeLessThanOrEqual(size)
          copies.push(Buffer.from(chunk))
        }
        expect(Buffer.concat(copies).equals(Buffer.from(content))).toBe(true)
      }),
      { numRuns: 100 },
    )
  })

  it('closes the file when the reader stops early', async () => {
    const path = join(dir, 'early')
    await writeFile(path, Buffer.alloc(1000, 7))
    const before = await openDescriptors()
    for await (const chunk of readChunksReusing(path, 10)) {
      expect(chunk[0]).toBe(7)
      break
    }
    expect(await openDescriptors()).toBe(before)
  })

  it('rejects with ENOENT for a missing file', async () => {
    const read = async () => {
      for await (const chunk of readChunksReusing(join(dir, 'missing'), 10)) expect(chunk).toBeUndefined()
    }
    await expect(read()).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
