/**
 * Reading a checkpoint file line by line as it streams in, without ever holding its whole text: the envelope's
 * version and checksum lines are checked first, the body's length and checksum are computed chunk by chunk, and each
 * body line is handed on as soon as it is complete. Large state snapshots (a million keys is tens of megabytes) are
 * read this way, so a restore needs memory for the state it builds, not for the file as well.
 */
import { StringDecoder } from 'node:string_decoder'
import type { CheckpointFs } from './fs.js'
import { bodyChecksum, checkEnvelopeBody, type EnvelopeHead, readEnvelopeHead } from './format.js'

/** Receives the body lines of a file: the line's text without its newline and its 1-based number in the body. */
export type LineVisitor = (line: string, lineNo: number) => void

/**
 * Where the visited line lies: `text.slice(start, end)` is the line. `text` is the decoded text of the chunk the line
 * came in (or the line itself when it spanned chunks), so a reader may keep a line as three numbers and one shared
 * string instead of a string per line. One object, handed to `open`, is updated before each line is visited: read it
 * during the visit only.
 */
export interface LineSpan {
  text: string
  start: number
  end: number
}

/**
 * Streams the body of the checkpoint file at `path` line by line. `open` gets the file's format version and size
 * (as its head declares) and the {@link LineSpan} of the visited line once the head is read, and returns the visitor
 * of its lines. Lines reach the visitor before
 * the checksum can be checked, so a caller must treat what it built as void when this rejects. When the visitor
 * throws, the rest of the file is still read: a damaged file (wrong length or checksum) is reported as such rather
 * than as the first line that did not make sense, and otherwise the visitor's error is rethrown.
 * @example await readCheckpointLines(nodeFs, '/ckpt/state/count/10.snapshot', () => (line) => void JSON.parse(line))
 * @throws the file-system error of reading it (code 'ENOENT' when missing); CheckpointVersionError for a newer
 * format; CheckpointCorruptedError naming `path` when the envelope is damaged (see `decodeCheckpointFile`); and
 * whatever the visitor throws.
 */
export async function readCheckpointLines(
  fs: CheckpointFs,
  path: string,
  open: (version: number, bytes: number, span: LineSpan) => LineVisitor,
): Promise<void> {
  const span: LineSpan = { text: '', start: 0, end: 0 }
  const chunks: AsyncIterable<Uint8Array> = fs.readChunks?.(path) ?? wholeFile(fs, path)
  let pending: Buffer | undefined
  let head: EnvelopeHead | undefined
  let body: BodyLines | undefined
  for await (const chunk of chunks) {
    if (body !== undefined) {
      body.push(chunk)
      continue
    }
    pending = pending === undefined ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([pending, chunk])
    const read = readEnvelopeHead(path, pending, false)
    // A chunk is valid only until the next is asked for: keep a copy of a head that goes on in the next chunk.
    if (read === 'incomplete') {
      pending = Buffer.from(pending)
      continue
    }
    head = read
    body = new BodyLines(head, open(head.version, head.bodyStart + head.expectedLength, span), span)
    body.push(pending.subarray(head.bodyStart))
    pending = undefined
  }
  if (head === undefined || body === undefined) {
    // The file ended within its head (or is empty): read as a whole file, the head says how it is damaged.
    head = readEnvelopeHead(path, pending ?? Buffer.alloc(0), true) as EnvelopeHead
    body = new BodyLines(head, open(head.version, head.bodyStart + head.expectedLength, span), span)
    body.push(pending!.subarray(head.bodyStart))
  }
  body.end()
  // The span outlives this read in whatever kept it; it must not keep the last chunk's text alive.
  span.text = ''
  checkEnvelopeBody(path, head, body.length, body.crc ?? bodyChecksum(head.version, new Uint8Array(0)))
  if (body.failure !== undefined) throw body.failure.error
}

async function* wholeFile(fs: CheckpointFs, path: string): AsyncIterable<Uint8Array> {
  yield await fs.readFile(path)
}

/** The body of one file as it arrives: length, running checksum, and complete lines handed to the visitor. */
class BodyLines {
  length = 0
  crc: number | undefined
  /** What the visitor threw; later lines are then only checksummed. */
  failure: { error: unknown } | undefined
  private readonly decoder = new StringDecoder('utf8')
  /** The start of a line whose end has not arrived yet. */
  private carry = ''
  private lineNo = 0

  constructor(
    private readonly head: EnvelopeHead,
    private readonly visit: LineVisitor,
    private readonly span: LineSpan,
  ) {}

  push(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return
    this.length += bytes.byteLength
    this.crc = bodyChecksum(this.head.version, bytes, this.crc)
    if (this.failure === undefined) this.lines(this.decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)))
  }

  end(): void {
    if (this.failure !== undefined) return
    const rest = this.carry + this.decoder.end()
    this.carry = ''
    if (rest.length > 0) this.emit(rest, 0, rest.length)
  }

  private lines(text: string): void {
    let start = 0
    let end = text.indexOf('\n')
    if (end < 0) {
      this.carry += text
      return
    }
    // The carried start of a line joins only its own end: the chunk's text itself is sliced, never concatenated.
    if (this.carry.length > 0) {
      const joined = this.carry + text.slice(0, end)
      if (!this.emit(joined, 0, joined.length)) return
    } else if (!this.emit(text, 0, end)) return
    this.carry = ''
    start = end + 1
    while ((end = text.indexOf('\n', start)) >= 0) {
      if (!this.emit(text, start, end)) return
      start = end + 1
    }
    this.carry = text.slice(start)
  }

  private emit(text: string, start: number, end: number): boolean {
    const span = this.span
    span.text = text
    span.start = start
    span.end = end
    try {
      this.visit(start === 0 && end === text.length ? text : text.slice(start, end), ++this.lineNo)
      return true
    } catch (error) {
      this.failure = { error }
      return false
    }
  }
}
