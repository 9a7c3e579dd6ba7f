import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CURRENT_FORMAT_VERSION,
  decodeCheckpointFile,
  encodeCheckpointBytes,
  encodeCheckpointFile,
  formatReaders,
  NEWEST_READABLE_FORMAT_VERSION,
} from '../../src/durable/format.js'
import { CheckpointCorruptedError, CheckpointVersionError } from '../../src/errors.js'
import { thrownBy } from '../checkpoint/tempDir.js'

const PATH = '/ckpt/offsets/7'

/** Bodies as they occur (JSON, JSON lines) and as they might (any unicode, newlines, empty). */
const body = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('\n', '\r', 'a', '{', '"', 'é', '😀', '\u0000') }),
  fc.json(),
  fc.array(fc.json()).map((lines) => lines.join('\n')),
)

/** What a decode of damaged bytes threw, in a form tests can compare. */
function failureOf(bytes: Buffer): 'corrupted' | 'version' {
  const error = thrownBy(() => decodeCheckpointFile(PATH, bytes))
  if (error instanceof CheckpointCorruptedError && error.path === PATH) return 'corrupted'
  if (error instanceof CheckpointVersionError && error.path === PATH) return 'version'
  throw error
}

/** A damaged version line may read as a newer version; that is reported as such, which is also a detection. */
function expectedFailure(bytes: Buffer): 'corrupted' | 'version' {
  const end = bytes.indexOf(0x0a)
  const versionLine = bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8')
  return /^v\d+$/.test(versionLine) && Number(versionLine.slice(1)) > NEWEST_READABLE_FORMAT_VERSION ? 'version' : 'corrupted'
}

describe('checkpoint file format', () => {
  it('writes the version line, then crc32 (of the version line and the body) and byte length of the body, then the body', () => {
    const text = 'héllo\n{"a":1}'
    const bytes = Buffer.from(text, 'utf8')
    const expectedCrc = crc32(Buffer.concat([Buffer.from('v2\n'), bytes])).toString(16).padStart(8, '0')
    expect(encodeCheckpointFile(text)).toBe(`v2\ncrc32=${expectedCrc} length=${bytes.length}\n${text}`)
  })

  it('writes and reads format v1 files, whose checksum covers the body alone', () => {
    const text = 'héllo\n{"a":1}'
    const bytes = Buffer.from(text, 'utf8')
    const v1 = `v1\ncrc32=${crc32(bytes).toString(16).padStart(8, '0')} length=${bytes.length}\n${text}`
    expect(encodeCheckpointFile(text, 1)).toBe(v1)
    expect(decodeCheckpointFile(PATH, v1)).toEqual({ version: 1, body: text })
  })

  it('detects a v2 file whose version line was changed to v1, and a v1 file changed to v2', () => {
    const v2 = encodeCheckpointFile('{"a":1}')
    expect(failureOf(Buffer.from(v2.replace(/^v2/, 'v1')))).toBe('corrupted')
    expect(failureOf(Buffer.from(encodeCheckpointFile('{"a":1}', 1).replace(/^v1/, 'v2')))).toBe('corrupted')
  })

  it('round-trips any body, from a string or from bytes', () => {
    fc.assert(
      fc.property(body, (text) => {
        const file = encodeCheckpointFile(text)
        expect(decodeCheckpointFile(PATH, file)).toEqual({ version: 2, body: text })
        expect(decodeCheckpointFile(PATH, Buffer.from(file, 'utf8'))).toEqual({ version: 2, body: text })
      }),
      { numRuns: 300 },
    )
  })

  it('detects every single-byte change of any file, naming the path', () => {
    fc.assert(
      fc.property(body, fc.nat(), fc.integer({ min: 1, max: 255 }), (text, at, mask) => {
        const bytes = Buffer.from(encodeCheckpointFile(text), 'utf8')
        const i = at % bytes.length
        bytes[i] ^= mask
        expect(failureOf(bytes)).toBe(expectedFailure(bytes))
      }),
      { numRuns: 1000 },
    )
  })

  it('detects every value of every byte of a small file, exhaustively', () => {
    const original = Buffer.from(encodeCheckpointFile('{"a":[1,"é"]}\n'), 'utf8')
    for (let i = 0; i < original.length; i++) {
      for (let value = 0; value < 256; value++) {
        if (value === original[i]) continue
        const bytes = Buffer.from(original)
        bytes[i] = value
        expect(failureOf(bytes), `byte ${i} set to ${value}`).toBe(expectedFailure(bytes))
      }
    }
  })

  it('detects every truncation of any file as corruption, naming the path', () => {
    fc.assert(
      fc.property(body, fc.nat(), (text, cut) => {
        const bytes = Buffer.from(encodeCheckpointFile(text), 'utf8')
        expect(failureOf(bytes.subarray(0, cut % bytes.length))).toBe('corrupted')
      }),
      { numRuns: 500 },
    )
  })

  it('detects bytes appended after the body as a length mismatch', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('{}') + '\n'))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).reason).toMatch(/length mismatch: body has 3 bytes, header declares 2/)
  })

  it('says the body is truncated when it is shorter than its header declares', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('{"a":1}').slice(0, -2)))
    expect((error as CheckpointCorruptedError).reason).toMatch(/truncated: body has 5 of the 7 bytes/)
  })

  it('says the checksum mismatched when a body byte changed', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('{"a":1}').replace('1}', '2}')))
    expect((error as CheckpointCorruptedError).reason).toMatch(/^checksum mismatch: header says crc32=[0-9a-f]{8}, body has/)
  })

  it('rejects a file newer than every reader with CheckpointVersionError naming the path and both versions', () => {
    const newer = NEWEST_READABLE_FORMAT_VERSION + 1
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('{}', newer)))
    expect(error).toBeInstanceOf(CheckpointVersionError)
    expect(error).toMatchObject({ path: PATH, foundVersion: newer, supportedVersion: NEWEST_READABLE_FORMAT_VERSION, code: 'SRX_CHECKPOINT_VERSION' })
    expect((error as Error).message).toContain(`v${newer}`)
    expect((error as Error).message).toContain(`v${NEWEST_READABLE_FORMAT_VERSION}`)
  })

  it('reads the version line before anything else: a newer file with an unknown layout is too new, not corrupt', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, 'v3\nsome header v3 invented\n\u0000binary'))
    expect(error).toBeInstanceOf(CheckpointVersionError)
  })

  it('rejects a file without a version line as corrupted', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, '{"batchId":7}'))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path: PATH, reason: 'missing version line', code: 'SRX_CHECKPOINT_CORRUPTED' })
    expect((error as Error).message).toContain(PATH)
  })

  it('rejects a version no reader knows (v0) as corrupted', () => {
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('{}', 0)))
    expect(error).toMatchObject({ path: PATH, reason: 'unknown format version v0' })
  })

  it('upgrades an older format body through its reader and reports the version found on disk', () => {
    const readers = { ...formatReaders, 0: (old: string) => JSON.stringify({ upgraded: JSON.parse(old) }) }
    expect(decodeCheckpointFile(PATH, encodeCheckpointFile('[1,2]', 0), readers)).toEqual({
      version: 0,
      body: '{"upgraded":[1,2]}',
    })
  })

  it('reports a failing upgrade as corruption of the file', () => {
    const readers = { ...formatReaders, 0: (old: string) => JSON.stringify(JSON.parse(old)) }
    const error = thrownBy(() => decodeCheckpointFile(PATH, encodeCheckpointFile('not json', 0), readers))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).reason).toMatch(/^cannot upgrade from format v0: /)
  })

  it('reads every version up to the current one', () => {
    for (let version = 1; version <= CURRENT_FORMAT_VERSION; version++) {
      expect(formatReaders[version], `reader of v${version}`).toBeTypeOf('function')
    }
  })
})

describe('encoding a checkpoint file', () => {
  it('gives as bytes exactly the UTF-8 of the text form, for any body and each version', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(0, 1, 2, 7), (text, version) => {
        expect(encodeCheckpointBytes(text, version).equals(Buffer.from(encodeCheckpointFile(text, version), 'utf8'))).toBe(true)
      }),
      { numRuns: 200 },
    )
    expect(encodeCheckpointBytes('{}').toString('utf8')).toBe(encodeCheckpointFile('{}', CURRENT_FORMAT_VERSION))
  })

  it('refuses a version that is not a non-negative integer with a RangeError naming it', () => {
    for (const version of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      for (const encode of [encodeCheckpointBytes, encodeCheckpointFile]) {
        const error = thrownBy(() => encode('x', version))
        expect(error).toBeInstanceOf(RangeError)
        expect((error as Error).message).toBe(`invalid format version ${version}`)
      }
    }
    expect(encodeCheckpointFile('', 0).startsWith('v0\n')).toBe(true)
  })
})
