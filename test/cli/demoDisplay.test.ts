/** What the demo prints while it runs: each query's summary, the status line, and its two result tables. */
import { describe, expect, it } from 'vitest'
import { countsTable, querySummary, statusLine, windowsTable } from '../../src/cli/demoDisplay.js'
import type { StreamingQueryProgress } from '../../src/exec/progress.js'
import type { StreamingQuery } from '../../src/exec/streamingQuery.js'

/** A query as the display reads it: its name or id and its last progress; nothing else is touched. */
function query(name: string | undefined, last?: Partial<StreamingQueryProgress>): StreamingQuery {
  return { id: 'id-1', name, lastProgress: last } as unknown as StreamingQuery
}

const stateOf = (numRowsTotal: number) => ({ numRowsTotal }) as StreamingQueryProgress['stateOperators'][number]

describe('the demo display', () => {
  it("sums a query's state rows over its operators and rounds its rates", () => {
    const q = query('counts', { batchId: 7, inputRowsPerSecond: 999.6, processedRowsPerSecond: 48210.4, stateOperators: [stateOf(4), stateOf(2)] })
    expect(querySummary(q)).toBe('counts batch 7: 1000/s in, 48210/s processed, 6 state rows')
  })

  it('names a query by its id when it has no name, and says when it has no batch yet', () => {
    expect(querySummary(query(undefined))).toBe('id-1 waiting for its first batch')
    expect(querySummary(query('counts'))).toBe('counts waiting for its first batch')
    expect(querySummary(query(undefined, { batchId: 0, inputRowsPerSecond: 0, processedRowsPerSecond: 0, stateOperators: [] }))).toBe(
      'id-1 batch 0: 0/s in, 0/s processed, 0 state rows',
    )
  })

  it('joins whole seconds, rows written and each query into one status line', () => {
    const a = query('a')
    const b = query('b', { batchId: 2, inputRowsPerSecond: 10, processedRowsPerSecond: 20, stateOperators: [stateOf(1)] })
    expect(statusLine(3.9, 6400, [a, b])).toBe('[3s] 6400 rows written | a waiting for its first batch | b batch 2: 10/s in, 20/s processed, 1 state rows')
    expect(statusLine(0, 0, [])).toBe('[0s] 0 rows written')
  })

  it('lists the latest windows, by window start and then user, with their times of day', () => {
    const at = (min: number) => Date.UTC(2026, 11, 1, 10, min)
    const w = (key: string, start: number, count: number) => ({ key, window: { start: at(start), end: at(start + 1) }, count })
    const rows = [w('bo', 2, 5), w('al', 0, 1), w('cy', 1, 3), w('al', 2, 4), w('al', 1, 2)]
    expect(windowsTable(rows, 3)).toBe(
      [
        '+----+-----------------+-----+',
        '|user|           window|count|',
        '+----+-----------------+-----+',
        '|  cy|10:01:00–10:02:00|    3|',
        '|  al|10:02:00–10:03:00|    4|',
        '|  bo|10:02:00–10:03:00|    5|',
        '+----+-----------------+-----+',
        '',
      ].join('\n'),
    )
    // The caller's rows are not reordered.
    expect(rows.map((r) => r.key)).toEqual(['bo', 'al', 'cy', 'al', 'al'])
  })

  it('lists the activity counts by activity', () => {
    expect(countsTable([{ key: 'sit', count: 3 }, { key: 'run', count: 12 }, { key: 'walk', count: 7 }])).toBe(
      ['+----+-----+', '| key|count|', '+----+-----+', '| run|   12|', '| sit|    3|', '|walk|    7|', '+----+-----+', ''].join('\n'),
    )
  })
})
