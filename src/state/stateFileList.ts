/**
 * What both state file layouts share: the names `<batchId>.delta` / `<batchId>.snapshot`, choosing the files a
 * replay reads, and reading a body line by line after its header.
 */
import { CheckpointCorruptedError } from '../errors.js'
import type { CheckpointFs } from '../durable/fs.js'
import { type LineSpan, readCheckpointLines } from '../durable/streamedFile.js'

/** Visits one entry line of a state file: the parsed line, its 1-based line number in the body, its partition. */
export type EntryVisitor = (entry: unknown, lineNo: number, partition: number) => void

/** A state file as {@link OperatorStateFiles.replay} visits it. */
export interface ReplayedFile {
  readonly batchId: number
  readonly kind: 'delta' | 'snapshot'
  readonly name: string
  readonly path: string
  /** Size of the file on disk. */
  readonly bytes: number
  /** The state version in the file's header. */
  readonly stateVersion: number
  /** The checkpoint format version of the file's layout (only v2 deltas may hold patch lines). */
  readonly formatVersion: number
  /** Where the entry line being visited lies in the text read (valid during the visit only). */
  readonly span: LineSpan
}

/** A state file found in a directory: its batch, kind and name. */
export interface StateFileName {
  readonly batchId: number
  readonly kind: 'delta' | 'snapshot'
  readonly name: string
}

/**
 * The state files (`<batchId>.delta`, `<batchId>.snapshot`) directly in `dir`, in batch order (a batch's delta
 * before its snapshot); other names are not state files and are skipped.
 * @example await listStateFiles(nodeFs, '/ckpt/state/count') // [{ batchId: 0, kind: 'delta', name: '0.delta' }, …]
 * @throws the file-system error of reading the directory (a missing one lists as empty).
 */
export async function listStateFiles(fs: CheckpointFs, dir: string): Promise<StateFileName[]> {
  const files: StateFileName[] = []
  for (const name of await fs.readdir(dir)) {
    const m = /^(0|[1-9]\d*)\.(delta|snapshot)$/.exec(name)
    if (m) files.push({ batchId: Number(m[1]), kind: m[2] as 'delta' | 'snapshot', name })
  }
  return files.sort((a, b) => a.batchId - b.batchId || (a.kind === 'snapshot' ? 1 : -1))
}

/**
 * The files that make up the state as of `version`, in the order to apply them: the latest snapshot ≤ version (if
 * any), then the deltas after it.
 * @example filesForVersion(files, 7)
 * @throws never.
 */
export function filesForVersion(files: readonly StateFileName[], version: number): StateFileName[] {
  const upTo = files.filter((f) => f.batchId <= version)
  const base = upTo.map((f) => f.kind).lastIndexOf('snapshot')
  if (base < 0) return upTo
  return upTo.slice(base).filter((f, i) => i === 0 || f.batchId > upTo[base]!.batchId)
}

/**
 * The files to remove so that no restore of a version ≥ `minVersion` is affected: everything before the last
 * snapshot ≤ `minVersion`.
 * @example purgeable(files, 20)
 * @throws never.
 */
export function purgeable(files: readonly StateFileName[], minVersion: number): StateFileName[] {
  const base = files.filter((f) => f.kind === 'snapshot' && f.batchId <= minVersion).pop()
  return base === undefined ? [] : files.filter((f) => f.batchId < base.batchId)
}

/** What a state file's header line says: its state version and, from v2 on, its partition count. */
export interface StateFileHeader {
  readonly stateVersion: number
  readonly partitions?: unknown
}

/** Turns a state file's header into the visitor of its entry lines (each parsed, with its line number). */
export type StateLinesOpener = (header: StateFileHeader) => (item: unknown, lineNo: number) => void

/**
 * Reads the state file at `path` line by line as it streams from disk: its header line (`{"stateVersion":n,…}`),
 * then every entry line, each parsed and handed on at once. The file's text is never held whole, and each parsed
 * entry dies young, where one big parse of a million-line body would keep them all alive (and promote them to the
 * old generation) until the last one is restored. Returns the file's format version and size.
 * @example await readStateFile(nodeFs, '/ckpt/state/count/10.snapshot', (header) => (entry, lineNo) => {})
 * @throws CheckpointCorruptedError naming the file when its envelope is damaged, a line is not JSON or the header
 * is missing; what `open` or its visitor throws; the file-system error of reading it.
 */
export async function readStateFile(
  fs: CheckpointFs,
  path: string,
  open: (header: StateFileHeader, file: { formatVersion: number; bytes: number; span: LineSpan }) => (item: unknown, lineNo: number) => void,
): Promise<void> {
  let parser: StateLineParser | undefined
  await readCheckpointLines(fs, path, (formatVersion, bytes, span) => {
    parser = new StateLineParser(path, (header) => open(header, { formatVersion, bytes, span }))
    return (line, lineNo) => parser!.line(line, lineNo)
  })
  parser!.end()
}

/**
 * Visits the lines of a state file body held as one string (see {@link readStateFile} for reading one from disk).
 * @throws CheckpointCorruptedError naming the file and line that is not JSON or lacks the header.
 */
export function readStateLines(path: string, body: string, open: StateLinesOpener): void {
  const parser = new StateLineParser(path, open)
  let start = 0
  let lineNo = 0
  while (start < body.length) {
    let end = body.indexOf('\n', start)
    if (end === -1) end = body.length
    parser.line(body.slice(start, end), ++lineNo)
    start = end + 1
  }
  parser.end()
}

/** Parses state file lines one at a time: the header first, then entries for the visitor it opens. */
class StateLineParser {
  private onLine: ((item: unknown, lineNo: number) => void) | undefined

  constructor(
    private readonly path: string,
    private readonly open: StateLinesOpener,
  ) {}

  line(text: string, lineNo: number): void {
    let item: unknown
    try {
      item = JSON.parse(text)
    } catch {
      throw new CheckpointCorruptedError(this.path, `line ${lineNo} is not JSON`)
    }
    if (this.onLine !== undefined) return this.onLine(item, lineNo)
    const header = item as { stateVersion?: unknown } | null
    if (lineNo !== 1 || typeof header?.stateVersion !== 'number') throw this.noHeader()
    this.onLine = this.open(header as StateFileHeader)
  }

  /** @throws CheckpointCorruptedError when no header line was read. */
  end(): void {
    if (this.onLine === undefined) throw this.noHeader()
  }

  private noHeader(): CheckpointCorruptedError {
    return new CheckpointCorruptedError(this.path, 'line 1 is not a state file header {"stateVersion":n}')
  }
}
