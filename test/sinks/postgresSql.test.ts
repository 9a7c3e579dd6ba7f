/**
 * The SQL the PostgreSQL sink builds, checked without a server: quoting, table names, the parameters each JavaScript
 * value becomes, row flattening, columns, statement splitting and the upsert. The statements' effect on a real table
 * is tested in postgresSink.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { InvalidQueryError } from '../../src/index.js'
import {
  claimBatchSql,
  columnsOf,
  flattenRow,
  insertStatements,
  isTransientPgError,
  lastRowPerKey,
  markerTableDdl,
  markerTableOf,
  parseTableName,
  pruneMarkersSql,
  quoteIdent,
  upsertSuffix,
} from '../../src/sinks/postgresSql.js'

/** What `run` throws (undefined when it returns). */
function thrownBy(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  return undefined
}

describe('names', () => {
  it('quotes an identifier literally, doubling every quote in it', () => {
    expect(quoteIdent('windowStart')).toBe('"windowStart"')
    expect(quoteIdent('a"b"c')).toBe('"a""b""c"')
  })

  it('parses a table name with or without its schema', () => {
    expect(parseTableName('counts')).toEqual({ schema: undefined, table: 'counts', sql: '"counts"' })
    expect(parseTableName('analytics.counts')).toEqual({ schema: 'analytics', table: 'counts', sql: '"analytics"."counts"' })
  })

  it.each(['', 'a.b.c', '.counts', 'analytics.', 'a..b'])('refuses the table name %j, quoting it', (name) => {
    const error = thrownBy(() => parseTableName(name))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe(`postgresSink: table must be 'table' or 'schema.table', got '${name}'`)
  })

  it('keeps the batch markers in structured_rx_batches of the table\'s schema', () => {
    expect(markerTableOf(parseTableName('counts'))).toBe('structured_rx_batches')
    expect(markerTableOf(parseTableName('analytics.counts'))).toBe('"analytics".structured_rx_batches')
  })
})

describe('batch-marker statements', () => {
  it('creates the marker table keyed by query and batch, claims a batch unless it or a later one is recorded, prunes old markers', () => {
    expect(markerTableDdl('m')).toBe(
      'CREATE TABLE IF NOT EXISTS m (query_id text NOT NULL, batch_id bigint NOT NULL, ' +
        'committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (query_id, batch_id))',
    )
    expect(claimBatchSql('m')).toBe(
      'INSERT INTO m (query_id, batch_id) SELECT $1, $2 WHERE NOT EXISTS ' +
        '(SELECT 1 FROM m WHERE query_id = $1 AND batch_id >= $2) ON CONFLICT DO NOTHING',
    )
    expect(pruneMarkersSql('m')).toBe('DELETE FROM m WHERE query_id = $1 AND batch_id <= $2 - 100')
  })
})

describe('rows as columns', () => {
  it('flattens a window into window_start and window_end, keeping the other fields', () => {
    expect(flattenRow({ key: 'a', window: { start: 0, end: 10 }, count: 2 })).toEqual({ key: 'a', count: 2, window_start: 0, window_end: 10 })
  })

  it('leaves a window field that is not a window alone', () => {
    for (const window of [null, 7, 'w', { start: 0 }, { end: 10 }]) expect(flattenRow({ key: 'a', window })).toEqual({ key: 'a', window })
    expect(flattenRow({ key: 'a' })).toEqual({ key: 'a' })
  })

  it.each([[7, '7'], [null, 'null'], ['row', '"row"'], [[1, 2], '[1,2]']])('refuses the row %j, showing it', (row, shown) => {
    const error = thrownBy(() => flattenRow(row))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe(`postgresSink: rows must be objects (one field per column), got ${shown}`)
  })

  it('takes every field any row has as a column, in first-seen order', () => {
    expect(columnsOf([])).toEqual([])
    expect(columnsOf([{ a: 1, b: 2 }, { a: 3, b: 4 }])).toEqual(['a', 'b'])
    expect(columnsOf([{ a: 1, b: 2 }, { a: 3 }, { a: 3, c: 5 }])).toEqual(['a', 'b', 'c'])
    expect(columnsOf([{ a: 1 }, { a: 1, b: 2 }])).toEqual(['a', 'b'])
    expect(columnsOf([{ a: 1 }, { b: 2 }, { b: 3 }, { a: 1, c: 3 }])).toEqual(['a', 'b', 'c'])
    expect(columnsOf([{}, { a: 1 }])).toEqual(['a'])
  })

  it('takes a field named like an Object method as a column even when the row before has as many other fields', () => {
    // Every object answers `'constructor' in row`; a row with such a field is not shaped like one without it.
    expect(columnsOf([{ key: 'a', n: 1 }, { key: 'b', constructor: 'x' }])).toEqual(['key', 'n', 'constructor'])
    expect(columnsOf([{ key: 'a', n: 1 }, { key: 'b', toString: 'x' }, { key: 'c', valueOf: 2 }])).toEqual(['key', 'n', 'toString', 'valueOf'])
  })
})

describe('insert statements', () => {
  it('inserts rows with one numbered parameter per value, row by row in column order', () => {
    expect(insertStatements('"t"', ['a', 'b"c'], [{ a: 1, 'b"c': 'x' }, { 'b"c': 'y' }])).toEqual([
      { text: 'INSERT INTO "t" ("a", "b""c") VALUES ($1, $2), ($3, $4)', values: [1, 'x', null, 'y'] },
    ])
    expect(insertStatements('"t"', ['a'], [{ a: 1 }], ' ON CONFLICT DO NOTHING')).toEqual([
      { text: 'INSERT INTO "t" ("a") VALUES ($1) ON CONFLICT DO NOTHING', values: [1] },
    ])
  })

  it('inserts nothing for no rows', () => {
    expect(insertStatements('"t"', ['a'], [])).toEqual([])
  })

  it('puts at most 2,000 rows in one statement, numbering each statement\'s parameters from $1', () => {
    const rows = Array.from({ length: 4_001 }, (_, i) => ({ a: i }))
    const statements = insertStatements('"t"', ['a'], rows)
    expect(statements.map((s) => s.values.length)).toEqual([2_000, 2_000, 1])
    expect(statements.map((s) => s.values[0])).toEqual([0, 2_000, 4_000])
    expect(statements[1]!.text).toBe(statements[0]!.text)
    expect(statements[0]!.text).toMatch(/VALUES \(\$1\), \(\$2\), .*, \(\$2000\)$/)
    expect(statements[2]!.text).toBe('INSERT INTO "t" ("a") VALUES ($1)')
  })

  it('keeps each statement within 65,535 parameters for wide rows', () => {
    const columns = Array.from({ length: 40 }, (_, i) => `c${i}`)
    const row = Object.fromEntries(columns.map((c, i) => [c, i]))
    const statements = insertStatements('"t"', columns, Array.from({ length: 3_000 }, () => row))
    // floor(65,535 / 40) = 1,638 rows per statement.
    expect(statements.map((s) => s.values.length)).toEqual([1_638 * 40, (3_000 - 1_638) * 40])
    expect(statements[0]!.text.endsWith(`$${1_638 * 40})`)).toBe(true)
  })

  it('still inserts a row wider than one statement allows, one row per statement (the server then refuses it)', () => {
    const columns = Array.from({ length: 65_536 }, (_, i) => `c${i}`)
    const statements = insertStatements('"t"', columns, [{}, {}])
    expect(statements.map((s) => s.values.length)).toEqual([65_536, 65_536])
  })
})

describe('values as bind parameters', () => {
  it('passes strings, numbers, booleans, dates and bytes as they are, null for a missing value, bigints as text, objects and arrays as JSON', () => {
    const at = new Date(0)
    const bytes = new Uint8Array([1, 2])
    const [statement] = insertStatements('"t"', ['v'], [
      { v: 's' },
      { v: 1.5 },
      { v: false },
      { v: at },
      { v: bytes },
      { v: null },
      {},
      { v: 12345678901234567890n },
      { v: { a: [1] } },
      { v: ['x'] },
    ])
    expect(statement!.values).toEqual(['s', 1.5, false, at, bytes, null, null, '12345678901234567890', '{"a":[1]}', '["x"]'])
    expect(statement!.values[3]).toBe(at)
    expect(statement!.values[4]).toBe(bytes)
  })


  it('refuses a value no column can hold, naming the column', () => {
    const error = thrownBy(() => insertStatements('"events"', ['id', 'callback'], [{ id: 1, callback: () => 1 }]))
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe('postgresSink: cannot store a function in column callback')
    expect(() => lastRowPerKey([{ key: Symbol('k') }], ['key'])).toThrow('postgresSink: cannot store a symbol in column key')
  })
})

describe('update mode', () => {
  it('upserts on the key columns, setting every other column from the new row', () => {
    expect(upsertSuffix(['key', 'window_start', 'count', 'note'], ['key', 'window_start'])).toBe(
      ' ON CONFLICT ("key", "window_start") DO UPDATE SET "count" = EXCLUDED."count", "note" = EXCLUDED."note"',
    )
  })

  it('does nothing on a conflict when every column is in the key', () => {
    expect(upsertSuffix(['key'], ['key'])).toBe(' ON CONFLICT ("key") DO NOTHING')
  })

  it('keeps one row per key, the last of the batch, in the order the keys first appear', () => {
    const rows = [
      { key: 'a', n: 1 },
      { key: 'b', n: 1 },
      { key: 'a', n: 2 },
      { key: 'c', n: 1 },
    ]
    expect(lastRowPerKey(rows, ['key'])).toEqual([{ key: 'a', n: 2 }, { key: 'b', n: 1 }, { key: 'c', n: 1 }])
    expect(lastRowPerKey(rows.slice(0, 2), ['key'])).toEqual(rows.slice(0, 2))
  })

  it('compares keys as the database will see them, over every key column', () => {
    // 1n is written as the text '1', so it is the same key as '1'; the number 1 is not.
    expect(lastRowPerKey([{ k: '1', n: 1 }, { k: 1n, n: 2 }, { k: 1, n: 3 }], ['k'])).toEqual([{ k: 1n, n: 2 }, { k: 1, n: 3 }])
    expect(lastRowPerKey([{ k: 'a', w: 0, n: 1 }, { k: 'a', w: 10, n: 2 }, { k: 'a', w: 0, n: 3 }], ['k', 'w'])).toEqual([
      { k: 'a', w: 0, n: 3 },
      { k: 'a', w: 10, n: 2 },
    ])
  })
})

describe('isTransientPgError', () => {
  it.each(['08000', '08003', '08006', '57P01', '57P02', '57P03', '53300', '40001', '40P01'])('retries SQLSTATE %s', (code) => {
    expect(isTransientPgError({ code, message: 'x' })).toBe(true)
  })

  it.each(['23505', '42P01', '42703', '22P02', '53100', '5708', 'P008', '80000'])('does not retry SQLSTATE %s', (code) => {
    expect(isTransientPgError({ code, message: 'x' })).toBe(false)
  })

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'timeout exceeded when trying to connect',
    'the database system is starting up',
    'the database system is shutting down',
  ])('retries a pg client error saying %j', (message) => {
    expect(isTransientPgError(new Error(message))).toBe(true)
  })

  it('retries a socket error of the connection', () => {
    expect(isTransientPgError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true)
  })

  it('does not retry other errors, nor what is not an error object', () => {
    for (const error of [
      new Error('relation "x" does not exist'),
      new Error('the database system is in recovery mode'),
      { code: 8006, message: 42 },
      { message: ['Connection terminated'] },
      {},
      null,
      undefined,
      '57P01',
      'Connection terminated',
    ]) {
      expect(isTransientPgError(error)).toBe(false)
    }
  })
})
