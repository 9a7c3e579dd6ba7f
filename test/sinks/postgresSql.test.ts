/**
 * The SQL the PostgreSQL sink builds, checked without a server: quoting, table names, the parameters each JavaScript
 * value becomes, row flattening, columns, statement splitting and the upsert. The statements' effect on a real table
 * is tested in postgresSink.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { InvalidQueryError } from '../../src/index.js'
import { insertStatements, lastRowPerKey } from '../../src/sinks/postgresSql.js'

describe('values as bind parameters', () => {
  it('refuses a value no column can hold, naming the column', () => {
    const error = (() => {
      try {
        insertStatements('"events"', ['id', 'callback'], [{ id: 1, callback: () => 1 }])
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(InvalidQueryError)
    expect((error as Error).message).toBe('postgresSink: cannot store a function in column callback')
    expect(() => lastRowPerKey([{ key: Symbol('k') }], ['key'])).toThrow('postgresSink: cannot store a symbol in column key')
  })
})
