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
import { decodeRow, type RowFailure } from './decodeRow.js'

/** A row that failed, as written to the dead-letter file. */
export interface BadRow {
  readonly file: string
  readonly line: number
  readonly codecPath: string
  readonly reason: string
  readonly text: string
}

/**
 * Where parsed rows go: `bad` is undefined when a bad row must fail the read. With `onBlock`, the rows parsed from
 * each block of text (about `blockBytes`) are handed to it, in order, as soon as they are parsed, and `rows` starts
 * over empty; without it, every row is left in `rows`.
 */
export interface RowTarget<T> {
  readonly codec: Codec<T>
  rows: T[]
  readonly bad: BadRow[] | undefined
  readonly onBlock?: (rows: T[]) => void
}

/**
 * How the bytes are cut: the size of one read, and of the text decoded as one string (a line longer than either is
 * still read whole). Tests pass tiny sizes so that every boundary falls inside lines and characters.
 * @example readJsonLines(handle, path, 0, size, target, { readBytes: 7, blockBytes: 5 })
 */
export interface LineSizes {
  readonly readBytes: number
  readonly blockBytes: number
}

/**
 * One read buffer per file, reused for every read of it (a fresh buffer per read costs page faults on every byte).
 * Text is decoded 64 KiB at a time: a string that size is made in V8's young generation and dies there, while a
 * string above 128 KiB goes to the large-object space, which maps fresh memory for each one (measured on the
 * benchmark's 47 MB of JSON lines: 14 ms to decode in 64 KiB strings, 240 ms in 4 MiB ones).
 */
const SIZES: LineSizes = { readBytes: 1024 * 1024, blockBytes: 64 * 1024 }
const NEWLINE = 0x0a
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/**
 * Parses bytes `[from, end)` of the open file `path` into `target`. Reading stops early only if the file is shorter
 * than `end`; the number of bytes actually read is returned, so the caller can tell.
 * @throws BadRecordError (file, line, codec path) on a bad line when `target.bad` is undefined.
 */
export async function readJsonLines<T>(
  handle: FileHandle,
  path: string,
  from: number,
  end: number,
  target: RowTarget<T>,
  sizes: LineSizes = SIZES,
): Promise<number> {
  let buffer: Buffer = Buffer.allocUnsafe(Math.max(1, Math.min(sizes.readBytes, end - from)))
  // `buffer[0, held)` is the start of a line whose end has not been read yet.
  let held = 0
  let pos = from
  // Only a read from the file's first byte may start with a byte-order mark, skipped once three bytes are in.
  let bomPending = from === 0
  // Line numbers are counted from `from`: a version of a file read from its old end numbers its new lines from 1.
  let lineNo = 1
  while (pos < end) {
    // A line longer than the buffer: the buffer grows with the longest line, never with the file.
    if (held === buffer.length) buffer = grown(buffer, held)
    const { bytesRead } = await handle.read(buffer, held, Math.min(buffer.length - held, end - pos), pos)
    if (bytesRead === 0) break
    pos += bytesRead
    const data = held + bytesRead
    let skip = 0
    if (bomPending) {
      if (data < BOM.length && pos < end) {
        held = data
        continue
      }
      bomPending = false
      if (data >= BOM.length && buffer.subarray(0, BOM.length).equals(BOM)) skip = BOM.length
    }
    const complete = pos >= end ? data : Math.max(skip, buffer.lastIndexOf(NEWLINE, data - 1) + 1)
    if (complete > skip) lineNo = parseBytes(path, buffer, skip, complete, lineNo, target, sizes.blockBytes)
    held = data - complete
    buffer.copy(buffer, 0, complete, data)
  }
  if (held > 0) parseBytes(path, buffer, 0, held, lineNo, target, sizes.blockBytes)
  return pos - from
}

function grown(buffer: Buffer, held: number): Buffer {
  const bigger = Buffer.allocUnsafe(buffer.length * 2)
  buffer.copy(bigger, 0, 0, held)
  return bigger
}

/** Parses the whole lines in `bytes[start, stop)` a block of about `blockBytes` at a time; returns the next line's number. */
function parseBytes<T>(path: string, bytes: Buffer, start: number, stop: number, lineNo: number, target: RowTarget<T>, blockBytes: number): number {
  while (start < stop) {
    let cut = stop
    if (stop - start > blockBytes) {
      // The block ends after the last newline within blockBytes, or, for a longer line, after that line.
      const before = bytes.lastIndexOf(NEWLINE, start + blockBytes - 1)
      const after = before >= start ? before : bytes.indexOf(NEWLINE, start + blockBytes)
      cut = after === -1 || after >= stop ? stop : after + 1
    }
    lineNo = parseBlock(path, bytes.subarray(start, cut), lineNo, target)
    start = cut
    if (target.onBlock !== undefined && target.rows.length > 0) {
      const rows = target.rows
      target.rows = []
      target.onBlock(rows)
    }
  }
  return lineNo
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
  const { codec, rows } = target
  let lineStart = 0
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart)
    if (lineEnd === -1) lineEnd = text.length
    const line = text.slice(lineStart, lineEnd)
    lineStart = lineEnd + 1
    const at = lineNo++
    if (line.length === 0 || (line.length < 3 && line.trim().length === 0)) continue
    let failure: RowFailure
    try {
      const value: unknown = JSON.parse(line)
      // A value of the codec's type is the row as it is: one parse, one check, nothing else made per row.
      if (codec.is(value)) {
        rows.push(value)
        continue
      }
      const r = decodeRow(codec as t.Mixed, value)
      if (r.ok) {
        rows.push(r.value as T)
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

function reject<T>(path: string, line: number, failure: RowFailure, text: string, target: RowTarget<T>): void {
  if (target.bad === undefined) throw new BadRecordError(path, line, failure.codecPath, failure.reason)
  target.bad.push({ file: path, line, codecPath: failure.codecPath, reason: failure.reason, text: text.length > 1000 ? `${text.slice(0, 1000)}…` : text.trim() })
}
