/**
 * Hands the rows of files read at once to one consumer in file order: the earliest file not yet read to its end
 * streams its blocks straight through, a later file's blocks are held until every file before it is done. Once the
 * consumer throws, nothing more reaches it.
 * @example const order = new InFileOrder(2, fold); readFile(0, order.blockOf(0)).then(() => order.end(0))
 * @throws what the consumer throws, from a block's callback or from `end`.
 */
export class InFileOrder<T> {
  /** Rows handed to the consumer. */
  rows = 0
  private head = 0
  private failed = false
  private readonly held: T[][][]
  private readonly done: boolean[]

  constructor(
    private readonly files: number,
    private readonly onBlock: (rows: T[]) => void,
  ) {
    this.held = Array.from({ length: files }, () => [])
    this.done = new Array<boolean>(files).fill(false)
  }

  /** Where file i's blocks go. */
  blockOf(i: number): (rows: T[]) => void {
    return (rows) => {
      if (i === this.head) this.hand(rows)
      else this.held[i]!.push(rows)
    }
  }

  /** File i is read to its end (or missing): the files after it may hand their blocks on. */
  end(i: number): void {
    this.done[i] = true
    while (this.head < this.files && this.done[this.head]) {
      this.head++
      if (this.head < this.files) for (const rows of this.held[this.head]!.splice(0)) this.hand(rows)
    }
  }

  private hand(rows: T[]): void {
    if (this.failed) return
    this.rows += rows.length
    try {
      this.onBlock(rows)
    } catch (e) {
      this.failed = true
      throw e
    }
  }
}

