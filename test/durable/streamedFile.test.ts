import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCheckpointFile, encodeCheckpointFile } from '../../src/durable/format.js'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { readCheckpointLines } from '../../src/durable/streamedFile.js'
import { CheckpointCorruptedError, CheckpointVersionError } from '../../src/errors.js'
import { thrownBy } from '../checkpoint/tempDir.js'

const PATH = '/ckpt/state/count/7.snapshot'

/** A file system holding one file, which it hands out in the chunks given (cut at any byte, even inside a character). */
function chunkedFs(bytes: Buffer, cuts: readonly number[]): CheckpointFs {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  return {
    ...nodeFs,
    readFile: async () => bytes,
    async *readChunks() {
      let start = 0
      for (const end of [...at, bytes.length]) {
        yield bytes.subarray(start, end)
        start = end
      }
    },
  }
}

/** chunkedFs, but each chunk's memory is overwritten once the next is asked for, as `nodeFs.readChunks` may do. */
function reusingFs(bytes: Buffer, cuts: readonly number[]): CheckpointFs {
  const inner = chunkedFs(bytes, cuts)
  return {
    ...inner,
    async *readChunks(path: string) {
      for await (const chunk of inner.readChunks!(path)) {
        const scratch = Buffer.from(chunk)
        yield scratch
        scratch.fill(0x78)
      }
    },
  }
}

async function streamedLines(fs: CheckpointFs): Promise<{ lines: string[]; version: number; bytes: number }> {
  const lines: string[] = []
  let opened = { version: -1, bytes: -1 }
  await readCheckpointLines(fs, PATH, (version, bytes, span) => {
    opened = { version, bytes }
    return (line, lineNo) => {
      expect(lineNo).toBe(lines.length + 1)
      expect(span.text.slice(span.start, span.end)).toBe(line)
      lines.push(line)
    }
  })
  return { lines, ...opened }
}

/** The lines a body holds: split on newlines, without the empty one after a final newline. */
function linesOf(body: string): string[] {
  const lines = body.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

const body = fc.oneof(
  fc.string({ unit: fc.constantFrom('\n', 'a', '{', '"', 'é', '😀', '\u0000') }),
  fc.array(fc.json()).map((lines) => lines.join('\n')),
)

async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  return undefined
}

describe('reading a checkpoint file as a stream of lines', () => {
  it('hands on exactly the lines of the body, however the file is cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(1, 2), fc.array(fc.nat(), { maxLength: 8 }), async (text, version, cuts) => {
        const bytes = Buffer.from(encodeCheckpointFile(text, version), 'utf8')
        const read = await streamedLines(chunkedFs(bytes, cuts))
        expect(read).toEqual({ lines: linesOf(text), version, bytes: bytes.length })
      }),
      { numRuns: 300 },
    )
  })

  it('hands on the same lines when the memory of a chunk is reused for the next one', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.array(fc.nat(), { maxLength: 8 }), async (text, cuts) => {
        const bytes = Buffer.from(encodeCheckpointFile(text, 2), 'utf8')
        const read = await streamedLines(reusingFs(bytes, cuts))
        expect(read).toEqual({ lines: linesOf(text), version: 2, bytes: bytes.length })
      }),
      { numRuns: 200 },
    )
  })

  it('reports every single-byte change as the whole-file decode does, however the file is cut', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 5 }), async (text, at, xor, cuts) => {
        const bytes = Buffer.from(encodeCheckpointFile(text), 'utf8')
        bytes[at % bytes.length]! ^= xor
        const expected = thrownBy(() => decodeCheckpointFile(PATH, bytes))
        const streamed = await failureOf(() => streamedLines(chunkedFs(bytes, cuts)))
        expect(expected).toBeInstanceOf(Error)
        expect(streamed).toBeInstanceOf((expected as Error).constructor)
        expect((streamed as Error).message).toBe((expected as Error).message)
      }),
      { numRuns: 300 },
    )
  })

  it('reports a truncated or empty file as the whole-file decode does', async () => {
    const bytes = Buffer.from(encodeCheckpointFile('{"stateVersion":1}\n{"k":"a","s":1}'), 'utf8')
    for (let length = 0; length < bytes.length; length++) {
      const cut = bytes.subarray(0, length)
      const expected = thrownBy(() => decodeCheckpointFile(PATH, cut)) as Error
      const streamed = (await failureOf(() => streamedLines(chunkedFs(cut, [1, 3])))) as Error
      expect(streamed).toBeInstanceOf(CheckpointCorruptedError)
      expect(streamed.message).toBe(expected.message)
    }
  })

  it('refuses a file of a newer format with CheckpointVersionError before reading its body', async () => {
    const bytes = Buffer.from(encodeCheckpointFile('{"stateVersion":1}', 9), 'utf8')
    let opened = false
    const error = await failureOf(() => readCheckpointLines(chunkedFs(bytes, [2]), PATH, () => ((opened = true), () => {})))
    expect(error).toBeInstanceOf(CheckpointVersionError)
    expect(opened).toBe(false)
  })

  it('reports damage rather than the line it garbled, and rethrows what the visitor threw in an intact file', async () => {
    const text = '{"stateVersion":1}\n{"k":"a","s":1}\n{"k":"b","s":2}'
    const intact = Buffer.from(encodeCheckpointFile(text), 'utf8')
    const reject = () => () => {
      throw new RangeError('not what I expected')
    }
    expect(await failureOf(() => readCheckpointLines(chunkedFs(intact, [30]), PATH, reject))).toBeInstanceOf(RangeError)
    const damaged = Buffer.from(intact)
    damaged[damaged.length - 3] = 0x78
    const error = await failureOf(() => readCheckpointLines(chunkedFs(damaged, [30]), PATH, reject))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).reason).toMatch(/checksum mismatch/)
  })
})
