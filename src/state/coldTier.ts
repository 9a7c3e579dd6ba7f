/**
 * The cold tier of a restored state store: the entry lines of the snapshot a restore read, kept as the text they were
 * read in (the decoded chunks of the file, each shared by all its lines) with each line's position in typed arrays,
 * and an open-addressing index from a hash of each line's key id to the line. A restore checks every line as it reads
 * it but keeps no object per key; a key becomes an entry of the store the first time a batch, a later delta or an
 * iteration reaches it, through the restore's own entry applier.
 */
import { type Prefaulted, prefaulted } from '../durable/prefault.js'
import type { LineSpan } from '../durable/streamedFile.js'
import { keyIdOf, stableHash, windowedId } from '../util/keys.js'
import { ColdIndex } from './coldIndex.js'
import { LineBlocks } from './lineBlocks.js'
import { LineRuns } from './lineRuns.js'

/** Turns one parsed line of a cold file into an entry of the store (the applier an eager restore uses). */
export type LineApplier = (item: unknown, lineNo: number, partition: number) => void

/** A parsed snapshot line, as far as the cold tier reads it (every line was checked when it was kept). */
interface StoredLine {
  readonly k: unknown
  readonly w?: readonly [number, number]
}

/** The store id of a parsed snapshot line: the same id an eager restore computes for it. */
function lineId(item: StoredLine): string {
  const keyId = keyIdOf(item.k)
  return item.w === undefined ? keyId : windowedId(keyId, { start: item.w[0] })
}

/** The fewest bytes an entry line of a snapshot takes, with its newline (`{"k":0,"s":0}`). */
const MIN_LINE = 14

/** Once this many lines of a tier's first file are kept, their length tells how many the file holds. */
const FIRST_LINES = 4096

/** A file at least this large has its lines' memory, and the index's, touched off the main thread (`prefault.ts`). */
const LARGE_FILE = 1 << 20

/**
 * Snapshot lines not yet turned into entries, looked up by key id. Each line costs 8 bytes of typed arrays (where it
 * starts in its text, its key's hash; see `lineBlocks.ts`) and 8.5 of index (`coldIndex.ts`) besides its text; its
 * text, partition and line number are kept per run of lines (see `lineRuns.ts`), and its end is the next newline of
 * its text. The index is built whole when the first lookup comes, not grown line by line. A line taken (or
 * discarded) is only marked gone, and the whole tier is released once no line is left.
 *
 * For a large file, the memory of the next blocks of line arrays, and of the index once the file's first few thousand
 * lines show how many lines it holds, is allocated ahead and its pages touched on the thread pool while the file
 * streams (`prefault.ts`): about 5,000 page faults per million lines that the main thread does not take.
 * @example const cold = new ColdTier(); cold.openFile(apply, bytes); cold.add('user-1', 3, 2, span); cold.take('user-1') // true: apply ran
 */
export class ColdTier {
  private readonly texts: string[] = []
  /** For each text, the index of its file's applier. */
  private readonly textFile: number[] = []
  private readonly appliers: LineApplier[] = []
  private readonly runs = new LineRuns()
  private lastText: string | undefined
  private blocks!: LineBlocks
  private coldIndex!: ColdIndex
  /** Memory for the index, being touched on the thread pool. */
  private pendingIndex: Prefaulted | undefined
  /** Lines below this one are in the index. */
  private indexed!: number
  /** Lines not yet taken or discarded (a line replaced by a later one of its key counts until the index is built). */
  private left = 0
  private textChars = 0
  /** The first file of the tier, while the index's size is not guessed yet: its size in bytes. */
  private guessing: { bytes: number } | undefined
  /** The line parsed by the last successful {@link find}. */
  private found: StoredLine | undefined

  /** `allocate` gives memory touched off the main thread (tests pass memory that is ready at once, or never). */
  constructor(private readonly allocate: (bytes: number) => Prefaulted = prefaulted) {
    this.release()
  }

  /**
   * Starts keeping the lines of another file of `bytes` bytes; `apply` makes an entry of one of its lines when it is
   * taken.
   */
  openFile(apply: LineApplier, bytes: number): void {
    this.appliers.push(apply)
    this.lastText = undefined
    if (bytes < LARGE_FILE) return
    this.blocks.expectMany()
    if (this.blocks.count === 0) this.guessing = { bytes }
  }

  /** Keeps the line `span` points at (already checked) for key `id` of `partition`; the line ends at the text's next newline or end. */
  add(id: string, partition: number, lineNo: number, span: LineSpan): void {
    if (span.text !== this.lastText) this.addText(span.text)
    const line = this.blocks.push(span.start, stableHash(id))
    this.runs.add(line, this.texts.length - 1, partition, lineNo)
    this.left++
    if (line === FIRST_LINES && this.guessing !== undefined) this.prefaultIndex(span)
  }

  /**
   * Starts touching the memory of the index for as many lines as the first file holds if the rest of it has lines as
   * long as those read so far (plus a tenth).
   */
  private prefaultIndex(span: LineSpan): void {
    const chars = this.textChars - span.text.length + span.start
    const bytes = this.guessing!.bytes
    this.guessing = undefined
    const expected = Math.min(Math.ceil((bytes * FIRST_LINES * 1.1) / Math.max(chars, 1)), Math.ceil(bytes / MIN_LINE))
    this.pendingIndex = this.allocate(expected * 8)
  }

  private addText(text: string): void {
    this.lastText = text
    this.texts.push(text)
    this.textFile.push(this.appliers.length - 1)
    this.textChars += text.length
  }

  /** Lines not yet taken or discarded. */
  get live(): number {
    this.index()
    return this.left
  }

  /** Turns the line of `id` into an entry of the store (through its file's applier); false when no line has it. */
  take(id: string): boolean {
    const line = this.find(id)
    if (line < 0) return false
    this.takeLine(line, this.found!)
    return true
  }

  /** Forgets the line of `id`, if any (a later delta replaced or removed the key). */
  discard(id: string): void {
    const line = this.find(id)
    if (line >= 0) this.drop(line)
  }

  /** Turns every remaining line into an entry, in the order they were read, and releases the tier. */
  takeAll(): void {
    this.index()
    const blocks = this.blocks
    for (let line = 0; line < blocks.count && this.left > 0; line++) {
      if (!blocks.isGone(line)) this.takeLine(line, this.parse(line))
    }
  }

  /** Every remaining line, parsed (`{k, s, w?, t?}`, as written), with its partition. */
  *remaining(): IterableIterator<{ partition: number; item: unknown }> {
    this.index()
    for (let run = 0; run < this.runs.count; run++) {
      const partition = this.runs.partitionOf(run)
      for (let line = this.runs.firstLine(run, 0), end = this.runs.firstLine(run + 1, this.blocks.count); line < end; line++) {
        if (!this.blocks.isGone(line)) yield { partition, item: this.parse(line) }
      }
    }
  }

  /** Bytes held: the kept text (2 bytes a character at most), the arrays of the lines kept and the index. */
  get bytes(): number {
    return this.textChars * 2 + this.blocks.bytes + this.runs.count * 32 + this.coldIndex.bytes
  }

  private takeLine(line: number, item: StoredLine): void {
    const run = this.runs.of(line)
    const apply = this.appliers[this.textFile[this.runs.textOf(run)]!]!
    const [lineNo, partition] = [this.runs.lineNoOf(run, line), this.runs.partitionOf(run)]
    this.drop(line)
    apply(item, lineNo, partition)
  }

  private drop(line: number): void {
    this.blocks.markGone(line)
    if (--this.left === 0) this.release()
  }

  private parse(line: number): StoredLine {
    const text = this.texts[this.runs.textOf(this.runs.of(line))]!
    const start = this.blocks.startOf(line)
    const end = text.indexOf('\n', start)
    return JSON.parse(text.slice(start, end < 0 ? text.length : end)) as StoredLine
  }

  /** The remaining line whose key id is `id`, or -1; sets {@link found} to it parsed. */
  private find(id: string): number {
    if (this.left === 0) return -1
    this.index()
    return this.coldIndex.find(stableHash(id) | 0, (line) => {
      if (this.blocks.isGone(line)) return false
      const item = this.parse(line)
      if (lineId(item) !== id) return false
      this.found = item
      return true
    })
  }

  /**
   * Indexes the lines kept since the last lookup (all of them again: an index is built whole, in two passes). A line
   * of the same id as a remaining earlier one marks that one gone: a later line replaces an earlier one, as in an
   * eager restore.
   */
  private index(): void {
    const blocks = this.blocks
    if (this.indexed === blocks.count) return
    blocks.stopAhead()
    const memory = this.pendingIndex
    this.pendingIndex = undefined
    this.coldIndex.build(blocks, memory, (earlier, later) => this.replaceIfSame(earlier, later))
    this.indexed = blocks.count
  }

  /** Marks `earlier` gone when it holds the same key as `later` (not through drop: `later` is being kept). */
  private replaceIfSame(earlier: number, later: number): void {
    if (lineId(this.parse(earlier)) !== lineId(this.parse(later))) return
    this.blocks.markGone(earlier)
    this.left--
  }

  /** Drops every line (none is left) and the memory they took. */
  private release(): void {
    this.texts.length = 0
    this.textFile.length = 0
    // Each applier's closure holds the last text its file's reader handed out: keeping one would keep a whole chunk.
    this.appliers.length = 0
    this.runs.clear()
    this.lastText = undefined
    this.textChars = 0
    this.blocks = new LineBlocks(this.allocate)
    this.indexed = 0
    this.coldIndex = new ColdIndex()
    this.pendingIndex = undefined
    this.guessing = undefined
  }
}
