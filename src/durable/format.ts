/**
 * The envelope of every checkpoint file:
 * ```
 * v2
 * crc32=1c291ca3 length=17
 * {"batchId":3,...}
 * ```
 * The version line comes first and alone, so a newer library can change everything after it and an older one still
 * says "too new" rather than "corrupted". The length is the body's in bytes; the checksum covers the body bytes
 * (v1) or the version line and the body bytes (v2).
 */
import { crc32 } from 'node:zlib'
import type * as t from 'io-ts'
import { CheckpointCorruptedError, CheckpointVersionError } from '../errors.js'
import { describeIoTsErrors } from '../util/ioTsErrors.js'
import { errorText } from '../util/text.js'
import { type CheckpointFs, writeFileAtomicAfter } from './checkpointFs.js'

/** The format version this library writes, and the newest it reads. */
export const CURRENT_FORMAT_VERSION = 2

/** Upgrades the body of one older format version to the body of the current one. */
export type FormatReader = (body: string) => string

/**
 * One reader per format version this library reads, keyed by version. v1 and v2 share every file body: v2 changed
 * where state files live and what one holds (one file per operator per batch instead of one per partition) and lets
 * a delta hold patch lines, which the state layer reads by the checkpoint's format version; a v1-only library refuses
 * a v2 file as too new instead of misreading it. Golden v1 and v2 checkpoints under test/ keep both read.
 */
export const formatReaders: Readonly<Record<number, FormatReader>> = {
  1: (body) => body,
  2: (body) => body,
}

/** The newest format version this library reads: files of a newer one raise CheckpointVersionError. */
export const NEWEST_READABLE_FORMAT_VERSION = Math.max(...Object.keys(formatReaders).map(Number))

/** A decoded checkpoint file: the version found on disk and the body, already upgraded to the current format. */
export interface CheckpointFileContents {
  readonly version: number
  readonly body: string
}

const VERSION_LINE = /^v\d+$/
const CHECKSUM_LINE = /^crc32=([0-9a-f]{8}) length=(\d+)$/
const NEWLINE = 0x0a
const MAX_SHOWN_CHARS = 60

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0')
}

function shown(line: string): string {
  return JSON.stringify(line.length > MAX_SHOWN_CHARS ? `${line.slice(0, MAX_SHOWN_CHARS)}…` : line)
}

/**
 * Wraps a body in the checkpoint envelope: version line, checksum line, body. `version` is for writing fixtures of
 * other formats in tests; the library always writes the current one.
 * @example
 * encodeCheckpointFile('{"a":1}') // 'v1\ncrc32=…… length=7\n{"a":1}'
 * @throws RangeError if `version` is not a non-negative integer.
 */
export function encodeCheckpointFile(body: string, version: number = CURRENT_FORMAT_VERSION): string {
  const bytes = Buffer.from(body, 'utf8')
  return `${envelopeHead(version, bytes)}${body}`
}

/**
 * {@link encodeCheckpointFile} as the bytes to write: the body is turned into UTF-8 once, for its checksum and for
 * the file (a state file of 30 KB per batch would otherwise be encoded twice).
 * @example encodeCheckpointBytes('{"a":1}').toString('utf8') // 'v2\ncrc32=…… length=7\n{"a":1}'
 * @throws RangeError if `version` is not a non-negative integer.
 */
export function encodeCheckpointBytes(body: string, version: number = CURRENT_FORMAT_VERSION): Buffer {
  const bytes = Buffer.from(body, 'utf8')
  const head = Buffer.from(envelopeHead(version, bytes), 'latin1')
  return Buffer.concat([head, bytes], head.length + bytes.length)
}

/** The version and checksum lines of a file whose body is `bytes`. */
function envelopeHead(version: number, bytes: Uint8Array): string {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`invalid format version ${version}`)
  return `v${version}\ncrc32=${hex8(checksumOf(version, bytes))} length=${bytes.length}\n`
}

/**
 * The checksum of a file of `version`: from v2 on it covers the version line too, so a damaged version digit that
 * still reads as another known version is caught (v1's covers the body only).
 */
function checksumOf(version: number, body: Uint8Array): number {
  return version >= 2 ? crc32(body, crc32(`v${version}\n`)) : crc32(body)
}

/**
 * Checks and unwraps a checkpoint file. The version line is read first; then the checksum line, the length and the
 * checksum of the body; then the body is upgraded to the current format by `readers`.
 * @example
 * decodeCheckpointFile('/ckpt/offsets/3', encodeCheckpointFile('{}')) // { version: 1, body: '{}' }
 * @throws CheckpointVersionError when the version is newer than {@link NEWEST_READABLE_FORMAT_VERSION}.
 * @throws CheckpointCorruptedError naming `path` when the version line is missing, the version has no reader, the
 * checksum line is malformed, the body is truncated or has the wrong length or checksum, or its upgrade fails.
 */
export function decodeCheckpointFile(
  path: string,
  bytes: Buffer | string,
  readers: Readonly<Record<number, FormatReader>> = formatReaders,
): CheckpointFileContents {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
  const head = readEnvelopeHead(path, buffer, true, readers) as EnvelopeHead
  const body = buffer.subarray(head.bodyStart)
  checkEnvelopeBody(path, head, body.length, checksumOf(head.version, body))
  try {
    return { version: head.version, body: head.reader(body.toString('utf8')) }
  } catch (error) {
    throw new CheckpointCorruptedError(path, `cannot upgrade from format v${head.version}: ${errorText(error)}`)
  }
}

/** The version and checksum lines of a checkpoint file, read and checked; the body starts at `bodyStart`. */
export interface EnvelopeHead {
  readonly version: number
  readonly reader: FormatReader
  readonly expectedCrc: string
  readonly expectedLength: number
  readonly bodyStart: number
}

/**
 * Reads the version and checksum lines at the start of `buffer`. When `buffer` is only the start of the file
 * (`complete` false) and ends before a line does, says 'incomplete' (a streaming reader then reads on); it judges
 * each line as soon as it is whole, so what it reports is what a read of the whole file reports.
 * @example readEnvelopeHead('/ckpt/metadata', buffer, true).bodyStart
 * @throws CheckpointVersionError for a newer version; CheckpointCorruptedError naming `path` when the version line is
 * missing, the version has no reader, the checksum line is malformed, or (`complete`) the file ends within them.
 */
export function readEnvelopeHead(
  path: string,
  buffer: Buffer,
  complete: boolean,
  readers: Readonly<Record<number, FormatReader>> = formatReaders,
): EnvelopeHead | 'incomplete' {
  const versionEnd = buffer.indexOf(NEWLINE)
  if (versionEnd < 0 && !complete) return 'incomplete'
  const versionLine = buffer.subarray(0, versionEnd < 0 ? buffer.length : versionEnd).toString('utf8')
  if (!VERSION_LINE.test(versionLine)) throw new CheckpointCorruptedError(path, 'missing version line')
  const version = Number(versionLine.slice(1))
  const newest = readers === formatReaders ? NEWEST_READABLE_FORMAT_VERSION : Math.max(...Object.keys(readers).map(Number))
  if (version > newest) throw new CheckpointVersionError(path, version, newest)
  const reader = readers[version]
  if (reader === undefined) throw new CheckpointCorruptedError(path, `unknown format version v${version}`)
  if (versionEnd < 0) throw new CheckpointCorruptedError(path, 'truncated after the version line')
  const headerEnd = buffer.indexOf(NEWLINE, versionEnd + 1)
  if (headerEnd < 0) {
    if (!complete) return 'incomplete'
    throw new CheckpointCorruptedError(path, 'truncated in the checksum line')
  }
  const headerLine = buffer.subarray(versionEnd + 1, headerEnd).toString('utf8')
  const header = CHECKSUM_LINE.exec(headerLine)
  if (header === null) throw new CheckpointCorruptedError(path, `malformed checksum line ${shown(headerLine)}`)
  return { version, reader, expectedCrc: header[1]!, expectedLength: Number(header[2]), bodyStart: headerEnd + 1 }
}

/**
 * Checks a body's length and checksum against its head (`crc` computed with {@link bodyChecksum}, all at once or
 * chunk by chunk).
 * @throws CheckpointCorruptedError naming `path` when the body is shorter or longer than declared or its checksum
 * differs.
 */
export function checkEnvelopeBody(path: string, head: EnvelopeHead, length: number, crc: number): void {
  const expected = head.expectedLength
  if (length < expected) throw new CheckpointCorruptedError(path, `truncated: body has ${length} of the ${expected} bytes its header declares`)
  if (length > expected) throw new CheckpointCorruptedError(path, `length mismatch: body has ${length} bytes, header declares ${expected}`)
  const actualCrc = hex8(crc)
  if (actualCrc !== head.expectedCrc) {
    throw new CheckpointCorruptedError(path, `checksum mismatch: header says crc32=${head.expectedCrc}, body has crc32=${actualCrc}`)
  }
}

/**
 * The checksum of a body of `version` read so far: pass the value for the bytes before `chunk` as `previous` (none for
 * the first chunk), so a streamed body is checksummed as it arrives.
 * @example bodyChecksum(2, chunk2, bodyChecksum(2, chunk1))
 * @throws never.
 */
export function bodyChecksum(version: number, chunk: Uint8Array, previous?: number): number {
  return previous === undefined ? checksumOf(version, chunk) : crc32(chunk, previous)
}

/**
 * Writes `body` to `path` in the checkpoint envelope, atomically, under `version` (a file whose contents need a
 * newer reader than the default version says so on its version line).
 * @example
 * await writeCheckpointFile(nodeFs, '/ckpt/metadata', '{"id":"…"}')
 * @throws the file-system error of the write (e.g. code 'ENOSPC').
 */
export async function writeCheckpointFile(
  fs: CheckpointFs,
  path: string,
  body: string,
  version: number = CURRENT_FORMAT_VERSION,
): Promise<void> {
  await fs.writeFileAtomic(path, encodeCheckpointBytes(body, version))
}

/**
 * Reads and checks a checkpoint file, returning its body in the current format.
 * @example
 * const body = await readCheckpointFile(nodeFs, '/ckpt/metadata')
 * @throws the file-system error of the read (code 'ENOENT' when missing), or the errors of {@link decodeCheckpointFile}.
 */
export async function readCheckpointFile(fs: CheckpointFs, path: string): Promise<string> {
  return decodeCheckpointFile(fs.describe?.(path) ?? path, await fs.readFile(path)).body
}

/**
 * Writes a JSON value as a checkpoint file, atomically. Pass the codec-encoded value (`codec.encode(a)`). With
 * `after`, the file appears only once those writes have succeeded (see `writeFileAtomicAfter`).
 * @example
 * await writeCheckpointJson(nodeFs, '/ckpt/commits/3', CommitCodec.encode({ batchWatermarkMs: 0 }))
 * @throws TypeError if `value` has no JSON form (undefined, a function, a bigint); the file-system error of the write.
 */
export async function writeCheckpointJson(
  fs: CheckpointFs,
  path: string,
  value: unknown,
  after: readonly Promise<unknown>[] = [],
): Promise<void> {
  const body = JSON.stringify(value) as string | undefined
  if (body === undefined) throw new TypeError(`cannot write ${typeof value} to checkpoint file ${path}: no JSON form`)
  await writeFileAtomicAfter(fs, path, encodeCheckpointBytes(body, CURRENT_FORMAT_VERSION), after)
}

/**
 * Reads a checkpoint file holding JSON and decodes it with `codec`.
 * @example
 * const commit = await readCheckpointJson(nodeFs, '/ckpt/commits/3', CommitCodec)
 * @throws CheckpointCorruptedError naming `path` when the body is not JSON or fails the codec (the reason names the
 * codec path, e.g. `.batchWatermarkMs: expected number, got "x"`); the errors of {@link readCheckpointFile}.
 */
export async function readCheckpointJson<A>(fs: CheckpointFs, path: string, codec: t.Type<A, unknown, unknown>): Promise<A> {
  const body = await readCheckpointFile(fs, path)
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (error) {
    throw new CheckpointCorruptedError(fs.describe?.(path) ?? path, `body is not JSON: ${errorText(error)}`)
  }
  const decoded = codec.decode(json)
  if (decoded._tag === 'Left') {
    const { path: codecPath, message } = describeIoTsErrors(decoded.left)
    throw new CheckpointCorruptedError(fs.describe?.(path) ?? path, codecPath === '' ? message : `${codecPath}: ${message}`)
  }
  return decoded.right
}
