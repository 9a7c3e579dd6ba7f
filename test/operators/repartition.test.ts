import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { jetStreamPartitions, repartition, withWatermark } from '../../src/index.js'
import { compilePlan } from '../../src/plan/compile.js'
import { PLAN } from '../../src/plan/nodes.js'
import { emitted } from './reference.js'

const Row = t.type({ user: t.string })
const via = jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 4, codec: Row })
const user = (r: { user: string }) => r.user

describe('repartition', () => {
  it('passes rows through unchanged in the reference semantics', () => {
    const rows = [{ user: 'b' }, { user: 'a' }, { user: 'b' }]
    expect(emitted(rows, repartition(user, t.string, { via }))).toEqual(rows)
  })

  it('carries a repartition plan node with its key, key codec and via', () => {
    expect(repartition(user, t.string, { via })[PLAN]).toEqual({ kind: 'repartition', keyOf: user, keyCodec: t.string, via })
  })

  it('keeps its own plan node beside withWatermark (neither shares a function with the other)', () => {
    const op = repartition(user, t.string, { via })
    withWatermark((r: { ts: number }) => r.ts, 10)
    expect(op[PLAN].kind).toBe('repartition')
  })

  it('is not part of a compiled plan: the session splits the query there', () => {
    expect(() => compilePlan([repartition(user, t.string, { via })[PLAN]], 'append')).toThrow(/repartition #1: repartition splits a query in two/)
  })
})
