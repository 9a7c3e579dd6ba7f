import { describe, expect, it, vi } from 'vitest'
import { consoleSink, createSession, memorySource, nodeFs } from '../../src/index.js'
import { formatTable } from '../../src/sinks/consoleSink.js'

async function printed(rows: unknown[], options: { numRows?: number; truncate?: boolean } = {}): Promise<string> {
  let text = ''
  const writer = await consoleSink({ ...options, write: (t) => void (text += t) }).open({ queryId: 'test-query', queryName: undefined, outputMode: 'append', fs: nodeFs })
  await writer.addBatch(3, rows)
  return text
}

describe('consoleSink', () => {
  it('prints each batch under its batch id as a table with one column per field, right-aligned', async () => {
    const rule = '-'.repeat(43)
    expect(await printed([{ key: 'a', count: 12 }, { key: 'bb', count: 3, extra: null }])).toBe(
      `${rule}\nBatch: 3\n${rule}\n` +
        '+---+-----+-----+\n' +
        '|key|count|extra|\n' +
        '+---+-----+-----+\n' +
        '|  a|   12| null|\n' +
        '| bb|    3| null|\n' +
        '+---+-----+-----+\n\n',
    )
  })

  it('shows values that are not records in a column named value, nested values as JSON', async () => {
    expect(await printed([7, 'x'])).toContain('|value|\n+-----+\n|    7|\n|    x|\n')
    expect(await printed([{ w: { start: 0, end: 10 } }])).toContain('|{"start":0,"end":10}|')
  })

  it('shows the first numRows rows and says so; truncates long cells to 20 characters unless told not to', async () => {
    const text = await printed([{ s: 'a'.repeat(25) }, { s: 'b' }, { s: 'c' }], { numRows: 2 })
    expect(text).toContain(`|${'a'.repeat(17)}...|`)
    expect(text).not.toContain('|                   c|')
    expect(text).toMatch(/only showing top 2 rows\n\n$/)
    expect(await printed([{ s: 'a'.repeat(25) }], { truncate: false })).toContain(`|${'a'.repeat(25)}|`)
  })

  it('shows a value that is not a record only in the value column of a batch that also has records', async () => {
    expect(await printed([{ key: 'a' }, 5, 'x', null])).toContain(
      '+----+-----+\n' +
        '| key|value|\n' +
        '+----+-----+\n' +
        '|   a| null|\n' +
        '|null|    5|\n' +
        '|null|    x|\n' +
        '|null| null|\n' +
        '+----+-----+\n',
    )
  })

  it('prints a header-only table for an empty batch', async () => {
    expect(await printed([])).toContain('+-----+\n|value|\n+-----+\n+-----+\n')
  })

  it('says nothing of hidden rows when the batch has exactly numRows rows', async () => {
    const text = await printed([{ s: 'a' }, { s: 'b' }], { numRows: 2 })
    expect(text).toContain('|s|\n+-+\n|a|\n|b|\n+-+\n')
    expect(text).not.toContain('only showing')
  })

  it('prints to standard output unless given a write function', async () => {
    const written: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      const writer = await consoleSink().open({ queryId: 'test-query', queryName: undefined, outputMode: 'append', fs: nodeFs })
      await writer.addBatch(1, [{ k: 'v' }])
    } finally {
      spy.mockRestore()
    }
    expect(written.join('')).toContain('Batch: 1\n')
    expect(written.join('')).toContain('|k|\n+-+\n|v|\n')
  })

  it('describes itself as ConsoleSink in the query\'s progress', async () => {
    const input = memorySource<{ k: string }>()
    const query = await createSession()
      .readStream(input.source)
      .writeStream({ outputMode: 'append', sink: consoleSink({ write: () => undefined }) })
      .start()
    input.addData([{ k: 'a' }])
    await query.processAllAvailable()
    await query.stop()
    expect(query.lastProgress?.sink).toEqual({ description: 'ConsoleSink', numOutputRows: 1 })
  })
})

describe('formatTable', () => {
  it('truncates long cells unless told not to', () => {
    expect(formatTable([{ s: 'a'.repeat(25) }])).toContain(`|${'a'.repeat(17)}...|`)
    expect(formatTable([{ s: 'a'.repeat(25) }], false)).toContain(`|${'a'.repeat(25)}|`)
  })
})
