/**
 * Reads a byte range of a JSON-lines file as rows, a chunk at a time: memory grows with the longest line, not with
 * the file, so files larger than the longest string V8 can hold are read like any other. Bytes are UTF-8, checked
 * strictly (a line that is not valid UTF-8 is a bad record, never silently patched with U+FFFD), and a leading
 * byte-order mark is skipped.
 */
import { isUtf8 } from 'node:buffer'
import type { FileHandle } from 'node:fs/promises'
import type * as t from 'io-ts'
import { BadRecordError } from '../errors.js'
import type { Codec } from '../plan/nodes.js'
import { decodeRow } from './decodeRow.js'

/** A row that failed, as written to the dead-letter file. */
export interface BadRow {
  readonly file: string
  readonly line: number
  readonly codecPath: string
  readonly reason: string
  readonly text: string
}

/** Where parsed rows go: `bad` is undefined when a bad row must fail the read. */
export interface RowTarget<T> {
  readonly codec: Codec<T>
  readonly rows: T[]
  readonly bad: BadRow[] | undefined
}

const CHUNK_BYTES = 4 * 1024 * 1024
const NEWLINE = 0x0a
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/**
 * Parses bytes `[from, end)` of the open file `path` into `target`. Reading stops early only if the file is shorter
 * than `end`; the number of bytes actually read is returned, so the caller can tell.
 * @throws BadRecordError (file, line, codec path) on a bad line when `target.bad` is undefined.
 */
export async function readJsonLines<T>(handle: FileHandle, path: string, from: number, end: number, target: RowTarget<T>): Promise<number> {
  let pos = from
  let carry: Buffer | undefined
  // Line numbers are counted from `from`: a version of a file read from its old end numbers its new lines from 1.
  let lineNo = 1
  while (pos < end) {
    const want = Math.min(CHUNK_BYTES, end - pos)
    const buffer = Buffer.allocUnsafe(want)
    const { bytesRead } = await handle.read(buffer, 0, want, pos)
    if (bytesRead === 0) break
    let chunk = buffer.subarray(0, bytesRead)
    if (pos === 0 && chunk.subarray(0, 3).equals(BOM)) chunk = chunk.subarray(3)
    pos += bytesRead
    const data = carry === undefined ? chunk : Buffer.concat([carry, chunk])
    const complete = pos >= end ? data.length : data.lastIndexOf(NEWLINE) + 1
    carry = complete < data.length ? data.subarray(complete) : undefined
    if (complete > 0) lineNo = parseBlock(path, data.subarray(0, complete), lineNo, target)
  }
  if (carry !== undefined) parseBlock(path, carry, lineNo, target)
  return pos - from
}

/** Parses whole lines; returns the number of the line after them. */
function parseBlock<T>(path: string, block: Buffer, lineNo: number, target: RowTarget<T>): number {
  // One validation and one decode for the whole block is the fast path; only a block with bad bytes goes line by line.
  if (isUtf8(block)) return parseText(path, block.toString('utf8'), lineNo, target)
  let start = 0
  while (start < block.length) {
    let stop = block.indexOf(NEWLINE, start)
    if (stop === -1) stop = block.length
    const line = block.subarray(start, stop)
    if (isUtf8(line)) parseText(path, line.toString('utf8'), lineNo, target)
    else reject(path, lineNo, { codecPath: '', reason: 'invalid UTF-8' }, line.toString('latin1'), target)
    lineNo++
    start = stop + 1
  }
  return lineNo
}

function parseText<T>(path: string, text: string, lineNo: number, target: RowTarget<T>): number {
  let lineStart = 0
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart)
    if (lineEnd === -1) lineEnd = text.length
    const line = text.slice(lineStart, lineEnd)
    lineStart = lineEnd + 1
    const at = lineNo++
    if (line.length === 0 || (line.length < 3 && line.trim().length === 0)) continue
    let failure: { codecPath: string; reason: string }
    try {
      const r = decodeRow(target.codec as t.Mixed, JSON.parse(line))
      if (r.ok) {
        target.rows.push(r.value as T)
        continue
      }
      failure = r
    } catch (e) {
      if (line.trim().length === 0) continue
      failure = { codecPath: '', reason: `malformed JSON: ${(e as Error).message}` }
    }
    reject(path, at, failure, line, target)
  }
  return lineNo
}

function reject<T>(path: string, line: number, failure: { codecPath: string; reason: string }, text: string, target: RowTarget<T>): void {
  if (target.bad === undefined) throw new BadRecordError(path, line, failure.codecPath, failure.reason)
  target.bad.push({ file: path, line, ...failure, text: text.length > 1000 ? `${text.slice(0, 1000)}…` : text.trim() })
}
