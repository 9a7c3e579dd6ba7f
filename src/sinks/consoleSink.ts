import type { Sink } from './sink.js'

/**
 * Prints each micro-batch as a table (Spark's console sink), for development.
 * @example writeStream({ outputMode: 'complete', sink: consoleSink({ numRows: 50 }) })
 */
export function consoleSink(options: { numRows?: number; truncate?: boolean; write?: (text: string) => void } = {}): Sink<unknown> {
  const numRows = options.numRows ?? 20
  const truncate = options.truncate ?? true
  const write = options.write ?? ((text: string) => process.stdout.write(text))
  return {
    description: 'ConsoleSink',
    async open() {
      return {
        async addBatch(batchId, rows) {
          const rule = '-'.repeat(43)
          write(`${rule}\nBatch: ${batchId}\n${rule}\n${formatTable(rows.slice(0, numRows), truncate)}`)
          if (rows.length > numRows) write(`only showing top ${numRows} rows\n`)
          write('\n')
        },
      }
    },
  }
}

/** Renders rows as a text table, one column per top-level field (nested values as JSON). */
export function formatTable(rows: readonly unknown[], truncate = true): string {
  const columns: string[] = []
  for (const row of rows) for (const k of Object.keys(asRecord(row))) if (!columns.includes(k)) columns.push(k)
  if (columns.length === 0) columns.push('value')
  const cell = (v: unknown) => {
    const text = v === undefined ? 'null' : typeof v === 'string' ? v : JSON.stringify(v)
    return truncate && text.length > 20 ? `${text.slice(0, 17)}...` : text
  }
  const cells = rows.map((r) => columns.map((c) => cell(asRecord(r)[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = `+${widths.map((w) => '-'.repeat(w)).join('+')}+\n`
  const fmt = (values: string[]) => `|${values.map((v, i) => v.padStart(widths[i]!)).join('|')}|\n`
  return line + fmt(columns) + line + cells.map(fmt).join('') + line
}

function asRecord(row: unknown): Record<string, unknown> {
  return typeof row === 'object' && row !== null ? (row as Record<string, unknown>) : { value: row }
}
