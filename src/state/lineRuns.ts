/**
 * Where the kept lines of a cold tier came from, one record per run of lines instead of one per line: a run is lines
 * kept one after another from the same text, the same partition, with consecutive line numbers. A snapshot's
 * million lines make a few dozen runs (a new one per chunk of the file, per line that spans two chunks and per
 * partition section), so a line's text, partition and line number cost nothing per line.
 */
export class LineRuns {
  /** The first line of each run, ascending. */
  private readonly first: number[] = []
  private readonly text: number[] = []
  private readonly partition: number[] = []
  private readonly lineNo: number[] = []
  private lastText = -1
  private lastPartition = -1
  private lastLineNo = -1

  /**
   * Records that kept line `line` (the next one) is line `lineNo` of `partition` in text `text`.
   * @example runs.add(0, 0, 3, 2) // line 0: text 0, partition 3, line number 2
   */
  add(line: number, text: number, partition: number, lineNo: number): void {
    if (text !== this.lastText || partition !== this.lastPartition || lineNo !== this.lastLineNo + 1) {
      this.first.push(line)
      this.text.push(text)
      this.partition.push(partition)
      this.lineNo.push(lineNo)
      this.lastText = text
      this.lastPartition = partition
    }
    this.lastLineNo = lineNo
  }

  /** How many runs there are. */
  get count(): number {
    return this.first.length
  }

  /** The run holding `line` (a line that was added). */
  of(line: number): number {
    let low = 0
    let high = this.first.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (this.first[mid]! <= line) low = mid
      else high = mid - 1
    }
    return low
  }

  /** The first line of run `run`, or `lines` past the last run. */
  firstLine(run: number, lines: number): number {
    return run < this.first.length ? this.first[run]! : lines
  }

  textOf(run: number): number {
    return this.text[run]!
  }

  partitionOf(run: number): number {
    return this.partition[run]!
  }

  /** The line number of `line`, which is in run `run`. */
  lineNoOf(run: number, line: number): number {
    return this.lineNo[run]! + line - this.first[run]!
  }

  clear(): void {
    for (const list of [this.first, this.text, this.partition, this.lineNo]) list.length = 0
    this.lastText = -1
    this.lastPartition = -1
    this.lastLineNo = -1
  }
}
