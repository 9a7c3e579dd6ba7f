/**
 * The cold tier of a restored state store: the entry lines of the snapshot a restore read, kept as the text they were
 * read in (the decoded chunks of the file, each shared by all its lines) with each line's position in typed arrays,
 * and an open-addressing index from a hash of each line's key id to the line. A restore checks every line as it reads
 * it but keeps no object per key; a key becomes an entry of the store the first time a batch, a later delta or an
 * iteration reaches it, through the restore's own entry applier.
 */
import type { LineSpan } from '../durable/streamedFile.js'
import { keyIdOf, stableHash, windowedId } from '../util/keys.js'

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

/** Spreads the bits of a 32-bit FNV-1a hash so its low bits pick a slot well (murmur3's finaliser). */
function slotOf(hash: number, mask: number): number {
  let h = hash ^ (hash >>> 16)
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) & mask
}

/**
 * Snapshot lines not yet turned into entries, looked up by key id. Each line costs about 25 bytes of typed arrays and
 * 16 of index besides its text. The arrays of a file's lines are sized from the file's length (lines are at least
 * {@link MIN_LINE} bytes, so they never grow while a file is read, and the pages never written cost no memory); the
 * index is built in one pass when the first lookup comes, not grown line by line. A line taken (or discarded) is only
 * marked gone, and the whole tier is released once no line is left.
 * @example const cold = new ColdTier(); cold.openFile(apply, bytes); cold.add('user-1', 3, 2, span); cold.take('user-1') // true: apply ran
 */
export class ColdTier {
  private readonly texts: string[] = []
  /** For each text, the index of its file's applier. */
  private readonly textFile: number[] = []
  private readonly appliers: LineApplier[] = []
  private lastText: string | undefined
  private lines!: number
  private textOf!: Int32Array
  private startOf!: Int32Array
  private endOf!: Int32Array
  private lineNoOf!: Int32Array
  private hashOf!: Int32Array
  private partitionOf!: Int32Array
  private gone!: Uint8Array
  /** The index: slot i is `[2i]` line + 1 (0 is empty) and `[2i + 1]` the line's key hash, side by side in memory. */
  private slots!: Int32Array
  /** Lines below this one are in the index. */
  private indexed!: number
  /** Lines not yet taken or discarded (a line replaced by a later one of its key counts until the index is built). */
  private left = 0
  private textChars = 0
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
    this.growLines(this.lines + Math.ceil(bytes / MIN_LINE) + 16)
  }

  /** Keeps the line `span` points at (already checked) for key `id` of `partition`. */
  add(id: string, partition: number, lineNo: number, span: LineSpan): void {
    if (span.text !== this.lastText) {
      this.lastText = span.text
      this.texts.push(span.text)
      this.textFile.push(this.appliers.length - 1)
      this.textChars += span.text.length
    }
    if (this.lines === this.gone.length) this.growLines(this.lines * 2)
    const line = this.lines++
    this.textOf[line] = this.texts.length - 1
    this.startOf[line] = span.start
    this.endOf[line] = span.end
    this.lineNoOf[line] = lineNo
    this.hashOf[line] = stableHash(id)
    this.partitionOf[line] = partition
    this.left++
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
    for (let line = 0; line < this.lines; line++) {
      if (this.gone[line] === 0) yield { partition: this.partitionOf[line]!, item: this.parse(line) }
    }
  }

  /** Bytes held: the kept text (2 bytes a character at most), the arrays of the lines kept and the index. */
  get bytes(): number {
    return this.textChars * 2 + this.lines * 25 + this.slots.length * 4
  }

  private takeLine(line: number, item: StoredLine): void {
    const apply = this.appliers[this.textFile[this.textOf[line]!]!]!
    const [lineNo, partition] = [this.lineNoOf[line]!, this.partitionOf[line]!]
    this.drop(line)
    apply(item, lineNo, partition)
  }

  private drop(line: number): void {
    this.gone[line] = 1
    if (--this.left === 0) this.release()
  }

  private parse(line: number): StoredLine {
    return JSON.parse(this.texts[this.textOf[line]!]!.slice(this.startOf[line], this.endOf[line])) as StoredLine
  }

  /** The remaining line whose key id is `id`, or -1; sets {@link found} to it parsed. */
  private find(id: string): number {
    if (this.left === 0) return -1
    this.index()
    const hash = stableHash(id) | 0
    const slots = this.slots
    const mask = (slots.length >> 1) - 1
    for (let slot = slotOf(hash, mask); ; slot = (slot + 1) & mask) {
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
   * Indexes the lines kept since the last lookup, in a new index at most half full when they do not fit. A line of
   * the same id as a remaining earlier one marks that one gone: a later line replaces an earlier one, as in an eager
   * restore.
   */
  private index(): void {
    if (this.indexed === this.lines) return
    let from = this.indexed
    if (this.lines * 2 > this.slots.length >> 1) {
      let size = 4096
      while (size < this.lines * 4) size *= 2
      this.slots = new Int32Array(size)
      from = 0
    }
    const slots = this.slots
    const mask = (slots.length >> 1) - 1
    for (let line = from; line < this.lines; line++) {
      if (this.gone[line] !== 0) continue
      const hash = this.hashOf[line]!
      let slot = slotOf(hash, mask)
      for (let entry = slots[slot << 1]!; entry !== 0; entry = slots[slot << 1]!) {
        if (line >= this.indexed && slots[(slot << 1) + 1] === hash && this.gone[entry - 1] === 0) this.replaceIfSame(entry - 1, line)
        slot = (slot + 1) & mask
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
    this.textOf = grow(this.textOf, (n) => new Int32Array(n))
    this.startOf = grow(this.startOf, (n) => new Int32Array(n))
    this.endOf = grow(this.endOf, (n) => new Int32Array(n))
    this.lineNoOf = grow(this.lineNoOf, (n) => new Int32Array(n))
    this.hashOf = grow(this.hashOf, (n) => new Int32Array(n))
    this.partitionOf = grow(this.partitionOf, (n) => new Int32Array(n))
    this.gone = grow(this.gone, (n) => new Uint8Array(n))
  }

  /** Drops every line (none is left) and the memory they took. */
  private release(): void {
    this.texts.length = 0
    this.textFile.length = 0
    // Each applier's closure holds the last text its file's reader handed out: keeping one would keep a whole chunk.
    this.appliers.length = 0
    this.lastText = undefined
    this.textChars = 0
    this.lines = 0
    this.indexed = 0
    for (const name of ['textOf', 'startOf', 'endOf', 'lineNoOf', 'hashOf', 'partitionOf'] as const) this[name] = new Int32Array(0)
    this.gone = new Uint8Array(0)
    this.slots = new Int32Array(0)
  }
}
