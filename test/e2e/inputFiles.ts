/** The input of the file-fed crash storms: JSON-lines files of random rows, each placed atomically. */
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { InputRow } from './crashQuery.js'

/** The input so far: files written to the input directory, and every row in them. */
export class InputFiles {
  readonly rows: InputRow[] = []
  private files = 0

  constructor(
    private readonly dir: string,
    private readonly next: () => number,
    private readonly rowsPerFile: number,
    private readonly keys: number,
  ) {}

  /** Writes `n` more files of `rowsPerFile` rows with ascending ids, random keys (of `keys`) and values. */
  async addFiles(n: number): Promise<void> {
    for (let f = 0; f < n; f++) {
      const rows: InputRow[] = []
      for (let i = 0; i < this.rowsPerFile; i++) {
        const key = `k${Math.floor(this.next() * this.keys)}`
        rows.push({ id: this.rows.length + rows.length, key, v: Math.floor(this.next() * 100) })
      }
      // Written under a dot name and renamed, so the running query never lists a half-written file.
      const name = `part-${String(this.files++).padStart(5, '0')}.json`
      await writeFile(join(this.dir, `.${name}`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
      await rename(join(this.dir, `.${name}`), join(this.dir, name))
      this.rows.push(...rows)
    }
  }
}
