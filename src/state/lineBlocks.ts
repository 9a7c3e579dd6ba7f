/**
 * The per-line arrays of a cold tier, in blocks of 16,384 lines: where each line starts in its text, its key's hash,
 * and whether it is gone. A block is 128 KiB of starts and hashes; adding lines never copies what is kept (where one
 * growing array is re-allocated and copied), and `gone` costs nothing until a line of its block is taken.
 *
 * When a large file is coming ({@link LineBlocks.expectMany}), the next blocks are allocated ahead with their pages
 * touched on the thread pool (`prefault.ts`), so that the main thread, parsing the file meanwhile, does not take a
 * page fault per 4 KiB of them: on the benchmark VM that is 15–30 µs each, about 2,000 per million lines.
 */
import { type Prefaulted, prefaulted } from '../durable/prefault.js'

export type { Prefaulted } from '../durable/prefault.js'

const SHIFT = 14
/** Lines per block. */
const BLOCK = 1 << SHIFT
const MASK = BLOCK - 1
/** The first block of a tier starts this small and doubles up to a whole block, so a few lines cost a few bytes. */
const FIRST_ROOM = 64
/** Blocks being touched ahead, at most. */
const SPARES = 2

/**
 * Lines added one after another, each a start and a hash; line numbers count from 0.
 * @example const lines = new LineBlocks(); const line = lines.push(17, hash); lines.startOf(line) // 17
 */
export class LineBlocks {
  private readonly starts: Int32Array[] = []
  private readonly hashes: Int32Array[] = []
  private readonly gone: (Uint8Array | undefined)[] = []
  /** Blocks whose pages are being touched off the main thread, oldest first. */
  private readonly spares: Prefaulted[] = []
  private ahead = false
  /** Lines added. */
  count = 0
  /** Whether any line was marked gone (until then no line need be looked up in `gone`). */
  anyGone = false

  /** `allocate` gives memory touched off the main thread (tests pass memory that is ready at once, or never). */
  constructor(private readonly allocate: (bytes: number) => Prefaulted = prefaulted) {}

  /** Starts touching blocks ahead of the lines that will be added (a large file is being read). */
  expectMany(): void {
    this.ahead = true
    this.topUp()
  }

  /** Stops touching blocks ahead and lets go of those not used (the file was read). */
  stopAhead(): void {
    this.ahead = false
    this.spares.length = 0
  }

  /** Adds the next line; returns its number. */
  push(start: number, hash: number): number {
    const line = this.count
    const block = line >>> SHIFT
    if (block === this.starts.length || (line & MASK) === this.starts[block]!.length) this.makeRoom(block)
    this.starts[block]![line & MASK] = start
    this.hashes[block]![line & MASK] = hash
    return this.count++
  }

  startOf(line: number): number {
    return this.starts[line >>> SHIFT]![line & MASK]!
  }

  hashOf(line: number): number {
    return this.hashes[line >>> SHIFT]![line & MASK]!
  }

  isGone(line: number): boolean {
    return this.anyGone && this.gone[line >>> SHIFT]?.[line & MASK] === 1
  }

  markGone(line: number): void {
    ;(this.gone[line >>> SHIFT] ??= new Uint8Array(BLOCK))[line & MASK] = 1
    this.anyGone = true
  }

  /** Bytes of the arrays allocated. */
  get bytes(): number {
    let bytes = 0
    for (const block of this.starts) bytes += block.length * 8
    for (const block of this.gone) bytes += block?.length ?? 0
    return bytes
  }

  private makeRoom(block: number): void {
    if (block < this.starts.length) {
      // Only the first block can be short: it doubles, then later blocks are whole.
      const size = Math.min(this.starts[block]!.length * 2, BLOCK)
      const [starts, hashes] = [new Int32Array(size), new Int32Array(size)]
      starts.set(this.starts[block]!)
      hashes.set(this.hashes[block]!)
      this.starts[block] = starts
      this.hashes[block] = hashes
      return
    }
    const memory = this.spares[0]?.ready === true ? this.spares.shift()!.buffer : block === 0 && !this.ahead ? undefined : new ArrayBuffer(BLOCK * 8)
    const size = memory === undefined ? FIRST_ROOM : BLOCK
    this.starts.push(memory === undefined ? new Int32Array(size) : new Int32Array(memory, 0, BLOCK))
    this.hashes.push(memory === undefined ? new Int32Array(size) : new Int32Array(memory, BLOCK * 4, BLOCK))
    if (this.ahead) this.topUp()
  }

  private topUp(): void {
    while (this.spares.length < SPARES) this.spares.push(this.allocate(BLOCK * 8))
  }
}
