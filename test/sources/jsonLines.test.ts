/**
 * How the JSON-lines reader cuts a file into reads and decoded blocks must not change what it reads: with reads and
 * blocks of a few bytes (so every line, multi-byte character and byte-order mark is split somewhere) it yields the
 * same rows and the same bad records, with the same line numbers, as the model of the file and as the default sizes.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as t from 'io-ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BadRecordError } from '../../src/errors.js'
import { type BadRow, type LineSizes, readJsonLines, type RowTarget } from '../../src/sources/jsonLines.js'

const Row = t.type({ id: t.number, s: t.string })
type Row = t.TypeOf<typeof Row>

/** One line of a generated file, and what reading it must give. */
type Line =
  | { kind: 'row'; row: Row; crlf: boolean }
  | { kind: 'blank'; text: string }
  | { kind: 'malformed'; text: string }
  | { kind: 'wrongType'; text: string }
  | { kind: 'badUtf8'; bytes: Buffer }

const text = fc.string({ unit: fc.constantFrom('a', 'é', '€', '𝄞', ' ', '"', '\\', '\n'), maxLength: 12 })
const line: fc.Arbitrary<Line> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('row' as const), row: fc.record({ id: fc.integer(), s: text }), crlf: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('blank' as const), text: fc.constantFrom('', ' ', '\t', '   ', '\r') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('malformed' as const), text: fc.constantFrom('{"id":', 'nope', '{"id":1,}', '€{') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrongType' as const), text: fc.constantFrom('{"id":"1","s":""}', '{"id":1}', '[1]', '"é"') }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom([0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80])
      .map((bad) => ({ kind: 'badUtf8' as const, bytes: Buffer.concat([Buffer.from('{"id":1,"s":"'), Buffer.from(bad), Buffer.from('"}')]) })),
  },
)

function bytesOf(l: Line): Buffer {
  switch (l.kind) {
    case 'row':
      return Buffer.from(JSON.stringify(l.row) + (l.crlf ? '\r' : ''))
    case 'badUtf8':
      return l.bytes
    default:
      return Buffer.from(l.text)
  }
}

/** The file's bytes, and the byte offset where each line starts. */
function fileOf(lines: readonly Line[], bom: boolean, finalNewline: boolean): { bytes: Buffer; starts: number[] } {
  const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : []
  const starts: number[] = []
  let at = parts.length === 0 ? 0 : 3
  lines.forEach((l, i) => {
    starts.push(at)
    const b = Buffer.concat([bytesOf(l), Buffer.from(i < lines.length - 1 || finalNewline ? '\n' : '')])
    parts.push(b)
    at += b.length
  })
  return { bytes: Buffer.concat(parts), starts }
}

/** What reading `lines` must give: the rows in order and, per bad line, its number (from 1) and the start of its reason. */
function expected(lines: readonly Line[]): { rows: Row[]; bad: { line: number; reason: string }[] } {
  const rows: Row[] = []
  const bad: { line: number; reason: string }[] = []
  lines.forEach((l, i) => {
    if (l.kind === 'row') rows.push(l.row)
    else if (l.kind === 'malformed') bad.push({ line: i + 1, reason: 'malformed JSON' })
    else if (l.kind === 'wrongType') bad.push({ line: i + 1, reason: 'expected ' })
    else if (l.kind === 'badUtf8') bad.push({ line: i + 1, reason: 'invalid UTF-8' })
  })
  return { rows, bad }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-jsonlines-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

let files = 0
async function read(bytes: Buffer, from: number, sizes: LineSizes | undefined, tolerate: boolean) {
  const path = join(dir, `f-${files++}.jsonl`)
  await writeFile(path, bytes)
  const handle = await open(path, 'r')
  try {
    const target: RowTarget<Row> = { codec: Row, rows: [], bad: tolerate ? [] : undefined }
    const read = await readJsonLines(handle, path, from, bytes.length, target, sizes)
    return { read, rows: target.rows, bad: target.bad as BadRow[] }
  } finally {
    await handle.close()
  }
}

const sizes = fc.record({ readBytes: fc.integer({ min: 1, max: 48 }), blockBytes: fc.integer({ min: 1, max: 48 }) })
const file = fc.record({
  lines: fc.array(line, { minLength: 1, maxLength: 14 }),
  bom: fc.boolean(),
  finalNewline: fc.boolean(),
})

describe('readJsonLines: reads and blocks of any size', () => {
  it('yields the rows and bad records of the model, line numbers included, for any read and block size', async () => {
    await fc.assert(
      fc.asyncProperty(file, sizes, async ({ lines, bom, finalNewline }, cut) => {
        const { bytes } = fileOf(lines, bom, finalNewline)
        const want = expected(lines)
        for (const s of [cut, undefined]) {
          const got = await read(bytes, 0, s, true)
          expect(got.read).toBe(bytes.length)
          expect(got.rows).toEqual(want.rows)
          expect(got.bad.map((b) => ({ line: b.line, reason: b.reason.slice(0, want.bad.find((w) => w.line === b.line)?.reason.length) }))).toEqual(want.bad)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('numbers lines from 1 at the byte it starts reading from', async () => {
    await fc.assert(
      fc.asyncProperty(file, sizes, fc.nat(), async ({ lines, bom, finalNewline }, cut, pick) => {
        const { bytes, starts } = fileOf(lines, bom, finalNewline)
        const k = pick % lines.length
        const want = expected(lines.slice(k))
        const got = await read(bytes, starts[k]!, cut, true)
        expect(got.rows).toEqual(want.rows)
        expect(got.bad.map((b) => b.line)).toEqual(want.bad.map((b) => b.line))
      }),
      { numRuns: 200 },
    )
  })

  it('fails on the first bad line, naming the file and that line, when bad records are not kept', async () => {
    await fc.assert(
      fc.asyncProperty(file, sizes, async ({ lines, bom, finalNewline }, cut) => {
        const { bytes } = fileOf(lines, bom, finalNewline)
        const firstBad = expected(lines).bad[0]
        const outcome = await read(bytes, 0, cut, false).then(() => undefined, (e: unknown) => e)
        if (firstBad === undefined) expect(outcome).toBeUndefined()
        else {
          expect(outcome).toBeInstanceOf(BadRecordError)
          expect(outcome).toMatchObject({ line: firstBad.line })
          expect((outcome as BadRecordError).file).toMatch(/f-\d+\.jsonl$/)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('reads a line far longer than its read buffer whole', async () => {
    const long: Row = { id: 7, s: '€'.repeat(5000) }
    const bytes = Buffer.from(`{"id":1,"s":""}\n${JSON.stringify(long)}\n{"id":2,"s":""}\n`)
    const got = await read(bytes, 0, { readBytes: 16, blockBytes: 8 }, false)
    expect(got.rows).toEqual([{ id: 1, s: '' }, long, { id: 2, s: '' }])
  })
})
