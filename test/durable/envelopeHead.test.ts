/**
 * readEnvelopeHead, the reader of a checkpoint file's version and checksum lines: each way the head can be wrong is
 * reported with the file's path and exactly what is wrong, and a head cut short is 'incomplete' only while more of the
 * file may follow.
 */
import { describe, expect, it } from 'vitest'
import { readEnvelopeHead } from '../../src/durable/format.js'
import { CheckpointCorruptedError, CheckpointVersionError } from '../../src/errors.js'
import { thrownBy } from '../checkpoint/tempDir.js'

const PATH = '/ckpt/offsets/3'
const head = (text: string, complete = true) => readEnvelopeHead(PATH, Buffer.from(text, 'utf8'), complete)
const corruption = (text: string, complete = true) => {
  const error = thrownBy(() => head(text, complete))
  expect(error).toBeInstanceOf(CheckpointCorruptedError)
  expect((error as CheckpointCorruptedError).path).toBe(PATH)
  return (error as Error).message
}

describe('readEnvelopeHead', () => {
  it('reads version, checksum, length and where the body starts', () => {
    expect(head('v2\ncrc32=0123abcd length=17\n{"x":1}')).toEqual({
      version: 2,
      reader: expect.any(Function),
      expectedCrc: '0123abcd',
      expectedLength: 17,
      bodyStart: 28,
    })
    expect(head('v1\ncrc32=ffffffff length=0\n', false)).toMatchObject({ version: 1, expectedLength: 0, bodyStart: 27 })
  })

  it('says incomplete while a partial read ends within the version or the checksum line', () => {
    expect(head('', false)).toBe('incomplete')
    expect(head('v2', false)).toBe('incomplete')
    expect(head('v2\n', false)).toBe('incomplete')
    expect(head('v2\ncrc32=0123abcd len', false)).toBe('incomplete')
  })

  it('names a whole file that ends within its head, and where', () => {
    expect(corruption('v2')).toBe(`checkpoint file ${PATH} is corrupted: truncated after the version line`)
    expect(corruption('v2\n')).toBe(`checkpoint file ${PATH} is corrupted: truncated in the checksum line`)
    expect(corruption('v2\ncrc32=0123abcd length=1')).toBe(`checkpoint file ${PATH} is corrupted: truncated in the checksum line`)
  })

  it('judges the version line as soon as it is whole, even in a partial read', () => {
    expect(corruption('', true)).toBe(`checkpoint file ${PATH} is corrupted: missing version line`)
    expect(corruption('{"batchId":3}\n', false)).toBe(`checkpoint file ${PATH} is corrupted: missing version line`)
    expect(corruption('v0\n', false)).toBe(`checkpoint file ${PATH} is corrupted: unknown format version v0`)
    const newer = thrownBy(() => head('v3\n', false))
    expect(newer).toBeInstanceOf(CheckpointVersionError)
    expect(newer).toMatchObject({ path: PATH, foundVersion: 3, supportedVersion: 2 })
  })

  it('shows a malformed checksum line quoted, cut at 60 characters', () => {
    expect(corruption('v2\ncrc32=0123ABCD length=1\n', false)).toBe(
      `checkpoint file ${PATH} is corrupted: malformed checksum line "crc32=0123ABCD length=1"`,
    )
    expect(corruption('v2\n\n')).toBe(`checkpoint file ${PATH} is corrupted: malformed checksum line ""`)
    const exactly60 = 'x'.repeat(60)
    expect(corruption(`v2\n${exactly60}\n`)).toBe(`checkpoint file ${PATH} is corrupted: malformed checksum line "${exactly60}"`)
    expect(corruption(`v2\n${'y'.repeat(61)}\nbody`)).toBe(
      `checkpoint file ${PATH} is corrupted: malformed checksum line "${'y'.repeat(60)}…"`,
    )
  })

  it('takes the newest readable version from the readers it is given', () => {
    const readers = { 1: (b: string) => b, 4: (b: string) => b.toUpperCase() }
    const ok = readEnvelopeHead(PATH, Buffer.from('v4\ncrc32=00000000 length=0\n'), true, readers)
    expect(ok).toMatchObject({ version: 4, reader: readers[4] })
    expect(thrownBy(() => readEnvelopeHead(PATH, Buffer.from('v5\n'), true, readers))).toMatchObject({ foundVersion: 5, supportedVersion: 4 })
    expect(thrownBy(() => readEnvelopeHead(PATH, Buffer.from('v2\n'), true, readers))).toMatchObject({
      message: `checkpoint file ${PATH} is corrupted: unknown format version v2`,
    })
  })
})
