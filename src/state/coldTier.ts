/**
 * The cold tier of a restored state store: the entry lines of the snapshot a restore read, kept as the text they were
 * read in (the decoded chunks of the file, each shared by all its lines) with each line's position in typed arrays,
 * and an open-addressing index from a hash of each line's key id to the line. A restore checks every line as it reads
 * it but keeps no object per key; a key becomes an entry of the store the first time a batch, a later delta or an
 * iteration reaches it, through the restore's own entry applier.
 */
import type { LineSpan } from '../durable/streamedFile.js'
import { keyIdOf, stableHash, windowedId } from '../util/keys.js'
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

/** Room for this many lines of a file at first: once they are kept, their length tells how many the file holds. */
const FIRST_GUESS = 4096

/**
 * The slot of a 32-bit FNV-1a hash among `count` slots: its bits spread by murmur3's finaliser, then scaled to the
 * slot count (multiply and shift, so the count need not be a power of two).
 */
function slotOf(hash: number, count: number): number {
  let h = hash ^ (hash >>> 16)
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return Math.floor(((h ^ (h >>> 16)) >>> 0) * count / 4294967296)
}

/**
 * Snapshot lines not yet turned into entries, looked up by key id. Each line costs 9 bytes of typed arrays (where it
 * starts in its text, its key's hash, whether it is gone) and 12–18 of index besides its text; its text, partition
 * and line number are kept per run of lines (see `lineRuns.ts`), and its end is the next newline of its text. The
 * arrays are sized once a file's first few thousand lines show how long its lines are, and grow (doubling) only when
 * the rest of the file has shorter lines; the index is built in one pass when the first lookup comes, not grown line by line. A
 * line taken (or discarded) is only marked gone, and the whole tier is released once no line is left.
 * @example const cold = new ColdTier(); cold.openFile(apply, bytes); cold.add('user-1', 3, 2, span); cold.take('user-1') // true: apply ran
 */
export class ColdTier {
  private readonly texts: string[] = []
  /** For each text, the index of its file's applier. */
  private readonly textFile: number[] = []
  private readonly appliers: LineApplier[] = []
  private readonly runs = new LineRuns()
  private lastText: string | undefined
  private lines!: number
  private startOf!: Int32Array
  private hashOf!: Int32Array
  private gone!: Uint8Array
  /** The index: slot i is `[2i]` line + 1 (0 is empty) and `[2i + 1]` the line's key hash, side by side in memory. */
  private slots!: Int32Array
  /** Lines below this one are in the index. */
  private indexed!: number
  /** Lines not yet taken or discarded (a line replaced by a later one of its key counts until the index is built). */
  private left = 0
  private textChars = 0
  /** The file being read: its size, and the lines and characters kept before it; `sized` once its line count was guessed. */
  private file = { bytes: 0, firstLine: 0, firstChars: 0, sized: true }
  /** The line parsed by the last successful {@link find}. */
  private found: StoredLine | undefined

  constructor() {
    this.release()
  }

  /**
   * Starts keeping the lines of another file of `bytes` bytes; `apply` makes an entry of one of its lines when it is
   * taken.
   */
  openFile(apply: LineApplier, bytes: number): void {
    this.appliers.push(apply)
    this.lastText = undefined
    this.file = { bytes, firstLine: this.lines, firstChars: this.textChars, sized: false }
    this.growLines(this.lines + Math.min(Math.ceil(bytes / MIN_LINE), FIRST_GUESS) + 16)
  }

  /** Keeps the line `span` points at (already checked) for key `id` of `partition`; the line ends at the text's next newline or end. */
  add(id: string, partition: number, lineNo: number, span: LineSpan): void {
    if (span.text !== this.lastText) this.addText(span.text)
    if (this.lines === this.gone.length) this.growLines(this.nextSize(span))
    const line = this.lines++
    this.runs.add(line, this.texts.length - 1, partition, lineNo)
    this.startOf[line] = span.start
    this.hashOf[line] = stableHash(id)
    this.left++
  }

  /**
   * The room for lines once the arrays are full: the first time in a file, for as many lines as the file holds if the
   * rest of it has lines as long as those read so far (plus a tenth); after that, twice as many.
   */
  private nextSize(span: LineSpan): number {
    const file = this.file
    if (file.sized) return this.lines * 2
    file.sized = true
    const lines = this.lines - file.firstLine
    const chars = this.textChars - file.firstChars - span.text.length + span.start
    const expected = Math.ceil((file.bytes * lines * 1.1) / Math.max(chars, 1))
    const size = file.firstLine + Math.min(expected, Math.ceil(file.bytes / MIN_LINE)) + 16
    return size > this.lines ? size : this.lines * 2
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
    for (let line = 0; line < this.lines && this.left > 0; line++) {
      if (this.gone[line] === 0) this.takeLine(line, this.parse(line))
    }
  }

  /** Every remaining line, parsed (`{k, s, w?, t?}`, as written), with its partition. */
  *remaining(): IterableIterator<{ partition: number; item: unknown }> {
    this.index()
    for (let run = 0; run < this.runs.count; run++) {
      const partition = this.runs.partitionOf(run)
      for (let line = this.runs.firstLine(run, 0), end = this.runs.firstLine(run + 1, this.lines); line < end; line++) {
        if (this.gone[line] === 0) yield { partition, item: this.parse(line) }
      }
    }
  }

  /** Bytes held: the kept text (2 bytes a character at most), the arrays of the lines kept and the index. */
  get bytes(): number {
    return this.textChars * 2 + this.gone.length * 9 + this.runs.count * 32 + this.slots.length * 4
  }

  private takeLine(line: number, item: StoredLine): void {
    const run = this.runs.of(line)
    const apply = this.appliers[this.textFile[this.runs.textOf(run)]!]!
    const [lineNo, partition] = [this.runs.lineNoOf(run, line), this.runs.partitionOf(run)]
    this.drop(line)
    apply(item, lineNo, partition)
  }

  private drop(line: number): void {
    this.gone[line] = 1
    if (--this.left === 0) this.release()
  }

  private parse(line: number): StoredLine {
    const text = this.texts[this.runs.textOf(this.runs.of(line))]!
    const start = this.startOf[line]!
    const end = text.indexOf('\n', start)
    return JSON.parse(text.slice(start, end < 0 ? text.length : end)) as StoredLine
  }

  /** The remaining line whose key id is `id`, or -1; sets {@link found} to it parsed. */
  private find(id: string): number {
    if (this.left === 0) return -1
    this.index()
    const hash = stableHash(id) | 0
    const slots = this.slots
    const count = slots.length >> 1
    for (let slot = slotOf(hash, count); ; slot = slot + 1 === count ? 0 : slot + 1) {
      const entry = slots[slot << 1]!
      if (entry === 0) return -1
      const line = entry - 1
      if (slots[(slot << 1) + 1] !== hash || this.gone[line] !== 0) continue
      const item = this.parse(line)
      if (lineId(item) === id) {
        this.found = item
        return line
      }
    }
  }

  /**
   * Indexes the lines kept since the last lookup. When they would fill the index more than two thirds, a new one is
   * made with half as many slots again as lines (twice as many when it replaces one: more files are coming); every
   * slot costs 8 bytes, which the first touch of its page makes expensive. A line of the same id as a remaining
   * earlier one marks that one gone: a later line replaces an earlier one, as in an eager restore.
   */
  private index(): void {
    if (this.indexed === this.lines) return
    let from = this.indexed
    if (this.lines * 3 > (this.slots.length >> 1) * 2) {
      const count = Math.max(1024, Math.ceil(this.lines * (this.slots.length === 0 ? 1.5 : 3)))
      this.slots = new Int32Array(count * 2)
      from = 0
    }
    const slots = this.slots
    const count = slots.length >> 1
    for (let line = from; line < this.lines; line++) {
      if (this.gone[line] !== 0) continue
      const hash = this.hashOf[line]!
      let slot = slotOf(hash, count)
      for (let entry = slots[slot << 1]!; entry !== 0; entry = slots[slot << 1]!) {
        if (line >= this.indexed && slots[(slot << 1) + 1] === hash && this.gone[entry - 1] === 0) this.replaceIfSame(entry - 1, line)
        slot = slot + 1 === count ? 0 : slot + 1
      }
      slots[slot << 1] = line + 1
      slots[(slot << 1) + 1] = hash
    }
    this.indexed = this.lines
  }

  /** Marks `earlier` gone when it holds the same key as `later` (not through drop: `later` is being kept). */
  private replaceIfSame(earlier: number, later: number): void {
    if (lineId(this.parse(earlier)) !== lineId(this.parse(later))) return
    this.gone[earlier] = 1
    this.left--
  }

  private growLines(size: number): void {
    if (size <= this.gone.length) return
    const grow = <A extends Int32Array | Uint8Array>(old: A, make: (n: number) => A): A => {
      const next = make(size)
      next.set(old.subarray(0, this.lines))
      return next
    }
    this.startOf = grow(this.startOf, (n) => new Int32Array(n))
    this.hashOf = grow(this.hashOf, (n) => new Int32Array(n))
    this.gone = grow(this.gone, (n) => new Uint8Array(n))
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
    this.lines = 0
    this.indexed = 0
    this.startOf = new Int32Array(0)
    this.hashOf = new Int32Array(0)
    this.gone = new Uint8Array(0)
    this.slots = new Int32Array(0)
  }
}
