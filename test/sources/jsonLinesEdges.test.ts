/**
 * readJsonLines at its edges: what a bad record carries (its text trimmed and cut short, its reason), a file shorter
 * or longer than the range asked for, a byte-order mark only at byte 0, and rows handed on a block at a time.
 */
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { BadRecordError } from '../../src/errors.js'
import { type BadRow, type LineSizes, readJsonLines, type RowTarget } from '../../src/sources/jsonLines.js'

const Row = t.type({ id: t.number }, 'Row')
type Row = t.TypeOf<typeof Row>
const tempDir = useTempDirs()

/** Reads bytes [from, end) of a file holding `bytes`, keeping bad records unless `strict`. */
async function read(bytes: Buffer | string, opts: { from?: number; end?: number; sizes?: LineSizes; strict?: boolean; blocks?: Row[][] } = {}) {
  const path = join(await tempDir('jsonl'), 'f.jsonl')
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
  await writeFile(path, b)
  const handle = await open(path, 'r')
  try {
    const blocks = opts.blocks
    const target: RowTarget<Row> = {
      codec: Row,
      rows: [],
      bad: opts.strict === true ? undefined : [],
      ...(blocks === undefined ? {} : { onBlock: (rows: Row[]) => blocks.push(rows) }),
    }
    const n = await readJsonLines(handle, path, opts.from ?? 0, opts.end ?? b.length, target, opts.sizes)
    return { n, rows: target.rows, bad: target.bad as BadRow[], path }
  } finally {
    await handle.close()
  }
}

describe('readJsonLines bad records', () => {
  it('records the file, line, codec path, reason and trimmed text of a row of the wrong type', async () => {
    const got = await read('{"id":1}\n {"id":"x"} \r\n')
    expect(got.rows).toEqual([{ id: 1 }])
    expect(got.bad).toEqual([{ file: got.path, line: 2, codecPath: '.id', reason: 'expected number, got "x" (codec Row)', text: '{"id":"x"}' }])
  })

  it('records malformed JSON with the parser\'s message and no codec path', async () => {
    const got = await read('nope\n')
    expect(got.bad).toHaveLength(1)
    expect(got.bad[0]!.codecPath).toBe('')
    expect(got.bad[0]!.reason).toMatch(/^malformed JSON: ./)
    expect(got.bad[0]!.text).toBe('nope')
  })

  it('records a line that is not UTF-8 as such, its bytes shown as Latin-1', async () => {
    const got = await read(Buffer.concat([Buffer.from('{"id":1}\n'), Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from('\n{"id":2}\n')]))
    expect(got.rows).toEqual([{ id: 1 }, { id: 2 }])
    expect(got.bad).toEqual([{ file: got.path, line: 2, codecPath: '', reason: 'invalid UTF-8', text: '{ÿ}' }])
  })

  it('keeps a bad line of 1000 characters whole, and cuts a longer one to 1000 and an ellipsis', async () => {
    const at = (n: number) => `"${'x'.repeat(n - 2)}"`
    const got = await read(`${at(1000)}\n${at(1001)}\n`)
    expect(got.bad.map((b) => b.text)).toEqual([at(1000), `${at(1001).slice(0, 1000)}…`])
  })

  it('skips blank and whitespace-only lines of any length', async () => {
    const got = await read('\n \n\t\t\n     \n{"id":3}\n', { strict: true })
    expect(got.rows).toEqual([{ id: 3 }])
  })

  it('without a place for bad records, throws naming the file, line and codec path', async () => {
    const error = await read('{"id":1}\n{"id":"x"}\n', { strict: true }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadRecordError)
    expect(error).toMatchObject({ line: 2, codecPath: '.id' })
    expect((error as Error).message).toBe(`bad record in ${(error as BadRecordError).file} at line 2 (.id): expected number, got "x" (codec Row)`)
  })
})

describe('readJsonLines ranges', () => {
  it('reads only up to the end asked for, and says how many bytes it read', async () => {
    const text = '{"id":1}\n{"id":2}\n{"id":3}\n'
    const got = await read(text, { end: 18, sizes: { readBytes: 4, blockBytes: 4 } })
    expect(got.n).toBe(18)
    expect(got.rows).toEqual([{ id: 1 }, { id: 2 }])
  })

  it('counts the bytes read from `from`, and reads nothing from an empty range', async () => {
    const text = '{"id":1}\n{"id":2}\n{"id":3}\n'
    const middle = await read(text, { from: 9, end: 18, sizes: { readBytes: 4, blockBytes: 4 } })
    expect(middle.n).toBe(9)
    expect(middle.rows).toEqual([{ id: 2 }])
    const none = await read(text, { from: 9, end: 9 })
    expect(none.n).toBe(0)
    expect(none.rows).toEqual([])
  })

  it('stops at the end of a file shorter than the range, still reading its last unterminated line', async () => {
    for (const sizes of [undefined, { readBytes: 3, blockBytes: 5 }]) {
      const got = await read('{"id":1}\n{"id":2}', { end: 100, sizes })
      expect(got.n).toBe(17)
      expect(got.rows).toEqual([{ id: 1 }, { id: 2 }])
    }
  })

  it('skips a byte-order mark at byte 0, also when the first read is shorter than the mark', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf])
    for (const sizes of [undefined, { readBytes: 1, blockBytes: 2 }, { readBytes: 2, blockBytes: 64 }]) {
      const got = await read(Buffer.concat([bom, Buffer.from('{"id":1}\n{"id":2}\n')]), { sizes, strict: true })
      expect(got.rows).toEqual([{ id: 1 }, { id: 2 }])
    }
  })

  it('reads a file of fewer bytes than a byte-order mark', async () => {
    const got = await read('7\n', { sizes: { readBytes: 1, blockBytes: 1 } })
    expect(got.bad.map((b) => b.reason)).toEqual(['expected Row, got 7 (codec Row)'])
  })

  it('does not skip a byte-order mark that is not at byte 0', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf])
    const bytes = Buffer.concat([Buffer.from('{"id":1}\n'), bom, Buffer.from('{"id":2}\n')])
    const got = await read(bytes, { from: 9 })
    expect(got.rows).toEqual([])
    expect(got.bad).toHaveLength(1)
    expect(got.bad[0]).toMatchObject({ line: 1, reason: expect.stringMatching(/^malformed JSON/) })
  })
})

describe('readJsonLines with onBlock', () => {
  it('hands a text of up to blockBytes on in one call, last line unterminated or not', async () => {
    for (const text of ['{"id":1}\n{"id":2}', '{"id":1}\n{"id":2}\n']) {
      for (const sizes of [undefined, { readBytes: 64, blockBytes: text.length }]) {
        const blocks: Row[][] = []
        await read(text, { sizes, blocks })
        expect(blocks, `${JSON.stringify(text)} ${JSON.stringify(sizes)}`).toEqual([[{ id: 1 }, { id: 2 }]])
      }
    }
  })

  it('cuts a text one byte longer than blockBytes after its last newline within the block', async () => {
    const blocks: Row[][] = []
    await read('{"id":1}\n{"id":2}', { sizes: { readBytes: 64, blockBytes: 16 }, blocks })
    expect(blocks).toEqual([[{ id: 1 }], [{ id: 2 }]])
  })

  it('keeps a block within blockBytes, newlines included, when its lines fit', async () => {
    // Lines of 9 bytes with their newline: a block of 17 bytes holds one (two would take 18).
    const blocks: Row[][] = []
    await read('{"id":1}\n{"id":2}\n{"id":3}\n', { sizes: { readBytes: 64, blockBytes: 17 }, blocks })
    expect(blocks).toEqual([[{ id: 1 }], [{ id: 2 }], [{ id: 3 }]])
    const eighteen: Row[][] = []
    await read('{"id":1}\n{"id":2}\n{"id":3}\n', { sizes: { readBytes: 64, blockBytes: 18 }, blocks: eighteen })
    expect(eighteen).toEqual([[{ id: 1 }, { id: 2 }], [{ id: 3 }]])
  })

  it('ends a block after a line longer than blockBytes, then goes on with the next', async () => {
    const long = JSON.stringify({ id: 123456789 })
    const blocks: Row[][] = []
    await read(`${long}\n{"id":1}\n{"id":2}\n`, { sizes: { readBytes: 64, blockBytes: 8 }, blocks })
    expect(blocks).toEqual([[{ id: 123456789 }], [{ id: 1 }], [{ id: 2 }]])
  })

  it('hands on every row once, in order, in blocks of about blockBytes, never an empty block', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i }))
    const text = lines.join('\n') + '\nbad\n\n'
    for (const sizes of [{ readBytes: 256, blockBytes: 20 }, { readBytes: 64, blockBytes: 1 }, undefined]) {
      const blocks: Row[][] = []
      const got = await read(text, { sizes, blocks })
      expect(blocks.flat()).toEqual(lines.map((_, i) => ({ id: i })))
      expect(blocks.every((b) => b.length > 0)).toBe(true)
      expect(got.rows).toEqual([])
      expect(got.bad).toHaveLength(1)
      if (sizes === undefined) expect(blocks).toHaveLength(1)
      // A block of at most 20 bytes holds at most two of these 8- and 9-byte lines; of 1 byte, one line.
      else expect(Math.max(...blocks.map((b) => b.length))).toBe(sizes.blockBytes === 1 ? 1 : 2)
    }
  })
})
