/** The input of the crash storms: rows with ascending ids, random keys and values, and files of them placed atomically. */
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A row of every storm's input. */
export interface StormRow {
  readonly id: number
  readonly key: string
  readonly v: number
}

/** Rows with ascending ids, random keys (of `keys`) and values, from a storm's seeded generator. */
export function rowMaker(next: () => number, keys = 7): (count: number) => StormRow[] {
  let id = 0
  return (count) => Array.from({ length: count }, () => ({ id: id++, key: `k${Math.floor(next() * keys)}`, v: Math.floor(next() * 100) }))
}

/** The input so far: files written to the input directory, and every row in them. */
export class InputFiles {
  readonly rows: StormRow[] = []
  private files = 0
  private readonly makeRows: (count: number) => StormRow[]

  constructor(
    private readonly dir: string,
    next: () => number,
    private readonly rowsPerFile: number,
    keys = 7,
  ) {
    this.makeRows = rowMaker(next, keys)
  }

  /** Writes `n` more files of `rowsPerFile` new rows each. */
  async addFiles(n: number): Promise<void> {
    for (let f = 0; f < n; f++) {
      const rows = this.makeRows(this.rowsPerFile)
      // Written under a dot name and renamed, so the running query never lists a half-written file.
      const name = `part-${String(this.files++).padStart(5, '0')}.json`
      await writeFile(join(this.dir, `.${name}`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
      await rename(join(this.dir, `.${name}`), join(this.dir, name))
      this.rows.push(...rows)
    }
  }
}
