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

/** Spreads the bits of a 32-bit FNV-1a hash so its low bits pick a slot well (murmur3's finaliser). */
function slotOf(hash: number, mask: number): number {
  let h = hash ^ (hash >>> 16)
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) & mask
}

/**
 * Snapshot lines not yet turned into entries, looked up by key id. Each line costs about 20 bytes of typed arrays
 * and 16 bytes of index besides its text; a line taken (or discarded) is only marked gone, and the whole tier is
 * released once no line is left.
 * @example const cold = new ColdTier(); cold.openFile(apply); cold.add('user-1', 3, 2, span); cold.take('user-1') // true: apply ran
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
  private partitionOf!: Uint16Array
  private gone!: Uint8Array
  /** Index slots: line + 1 (0 is empty) and the line's key hash. */
  private slots!: Int32Array
  private slotHash!: Uint32Array
  /** Lines not yet taken or discarded. */
  live = 0
  private textChars = 0
  /** The line parsed by the last successful {@link find}. */
  private found: StoredLine | undefined

  constructor() {
    this.release()
  }

  /** Starts keeping the lines of another file; `apply` makes an entry of one of its lines when it is taken. */
  openFile(apply: LineApplier): void {
    this.appliers.push(apply)
    this.lastText = undefined
  }

  /**
   * Keeps the line `span` points at (already checked) for key `id` of `partition`; a line kept earlier for the same
   * id is replaced, as a later line replaces an earlier one in an eager restore.
   * @throws RangeError before any file was opened.
   */
  add(id: string, partition: number, lineNo: number, span: LineSpan): void {
    if (this.appliers.length === 0) throw new RangeError('no cold file is open')
    if (span.text !== this.lastText) {
      this.lastText = span.text
      this.texts.push(span.text)
      this.textFile.push(this.appliers.length - 1)
      this.textChars += span.text.length
    }
    if (this.lines === this.gone.length) this.growLines()
    if ((this.lines + 1) * 2 > this.slots.length) this.growIndex()
    const hash = stableHash(id)
    const earlier = this.find(id, hash)
    if (earlier >= 0) {
      // Not through drop: the tier must not be released while the line replacing this one is being kept.
      this.gone[earlier] = 1
      this.live--
    }
    const line = this.lines++
    this.textOf[line] = this.texts.length - 1
    this.startOf[line] = span.start
    this.endOf[line] = span.end
    this.lineNoOf[line] = lineNo
    this.partitionOf[line] = partition
    this.insert(line, hash)
    this.live++
  }

  /** Turns the line of `id` into an entry of the store (through its file's applier); false when no line has it. */
  take(id: string): boolean {
    const line = this.find(id, stableHash(id))
    if (line < 0) return false
    this.takeLine(line, this.found!)
    return true
  }

  /** Forgets the line of `id`, if any (a later delta replaced or removed the key). */
  discard(id: string): void {
    const line = this.find(id, stableHash(id))
    if (line >= 0) this.drop(line)
  }

  /** Turns every remaining line into an entry, in the order they were read, and releases the tier. */
  takeAll(): void {
    for (let line = 0; line < this.lines && this.live > 0; line++) {
      if (this.gone[line] === 0) this.takeLine(line, this.parse(line))
    }
  }

  /** Every remaining line, parsed (`{k, s, w?, t?}`, as written), with its partition. */
  *remaining(): IterableIterator<{ partition: number; item: unknown }> {
    for (let line = 0; line < this.lines; line++) {
      if (this.gone[line] === 0) yield { partition: this.partitionOf[line]!, item: this.parse(line) }
    }
  }

  /** Bytes held: the kept text (2 bytes a character at most) and the typed arrays. */
  get bytes(): number {
    return this.textChars * 2 + this.gone.length * 19 + this.slots.length * 8
  }

  private takeLine(line: number, item: StoredLine): void {
    const apply = this.appliers[this.textFile[this.textOf[line]!]!]!
    const [lineNo, partition] = [this.lineNoOf[line]!, this.partitionOf[line]!]
    this.drop(line)
    apply(item, lineNo, partition)
  }

  private drop(line: number): void {
    this.gone[line] = 1
    if (--this.live === 0) this.release()
  }

  private parse(line: number): StoredLine {
    return JSON.parse(this.texts[this.textOf[line]!]!.slice(this.startOf[line], this.endOf[line])) as StoredLine
  }

  /** The remaining line whose key id is `id`, or -1; sets {@link found} to it parsed. */
  private find(id: string, hash: number): number {
    const mask = this.slots.length - 1
    for (let slot = slotOf(hash, mask); ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!
      if (entry === 0) return -1
      const line = entry - 1
      if (this.slotHash[slot] !== hash || this.gone[line] !== 0) continue
      const item = this.parse(line)
      if (lineId(item) === id) {
        this.found = item
        return line
      }
    }
  }

  private insert(line: number, hash: number): void {
    const mask = this.slots.length - 1
    let slot = slotOf(hash, mask)
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask
    this.slots[slot] = line + 1
    this.slotHash[slot] = hash
  }

  private growLines(): void {
    const size = this.gone.length * 2
    const grow = <A extends Int32Array | Uint16Array | Uint8Array>(old: A, make: (n: number) => A): A => {
      const next = make(size)
      next.set(old)
      return next
    }
    this.textOf = grow(this.textOf, (n) => new Int32Array(n))
    this.startOf = grow(this.startOf, (n) => new Int32Array(n))
    this.endOf = grow(this.endOf, (n) => new Int32Array(n))
    this.lineNoOf = grow(this.lineNoOf, (n) => new Int32Array(n))
    this.partitionOf = grow(this.partitionOf, (n) => new Uint16Array(n))
    this.gone = grow(this.gone, (n) => new Uint8Array(n))
  }

  /** Doubles the index, keeping only lines still there. */
  private growIndex(): void {
    const [slots, hashes] = [this.slots, this.slotHash]
    this.slots = new Int32Array(slots.length * 2)
    this.slotHash = new Uint32Array(slots.length * 2)
    for (let slot = 0; slot < slots.length; slot++) {
      const entry = slots[slot]!
      if (entry !== 0 && this.gone[entry - 1] === 0) this.insert(entry - 1, hashes[slot]!)
    }
  }

  /** Drops every line (none is left) and the memory they took. */
  private release(): void {
    this.texts.length = 0
    this.textFile.length = 0
    this.lastText = undefined
    this.textChars = 0
    this.lines = 0
    this.textOf = new Int32Array(1024)
    this.startOf = new Int32Array(1024)
    this.endOf = new Int32Array(1024)
    this.lineNoOf = new Int32Array(1024)
    this.partitionOf = new Uint16Array(1024)
    this.gone = new Uint8Array(1024)
    this.slots = new Int32Array(2048)
    this.slotHash = new Uint32Array(2048)
  }
}
