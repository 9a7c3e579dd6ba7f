import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, groupBy, InvalidQueryError, jetStreamPartitions, memorySink, memorySource, repartition, withWatermark } from '../../src/index.js'
import { compilePlan } from '../../src/plan/compile.js'
import { PLAN, REPARTITION_VIA } from '../../src/plan/nodes.js'
import { useTempDir } from '../checkpoint/tempDir.js'
import { emitted } from './reference.js'

const Row = t.type({ user: t.string })
const via = jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 4, codec: Row })
const user = (r: { user: string }) => r.user
const checkpoint = useTempDir()

describe('repartition', () => {
  it('passes rows through unchanged in the reference semantics', () => {
    const rows = [{ user: 'b' }, { user: 'a' }, { user: 'b' }]
    expect(emitted(rows, repartition(user, t.string, { via }))).toEqual(rows)
  })

  it('carries a repartition plan node with its key, key codec and via by name, as data', () => {
    const node = repartition(user, t.string, { via })[PLAN]
    expect(node).toEqual({ kind: 'repartition', keyOf: user, keyCodec: t.string, via: { name: via[REPARTITION_VIA], description: 'JetStream[S/s.[0..3]]' } })
    // No connection, factory or partition count in the plan: via is a name and a description, plain JSON.
    if (node.kind === 'repartition') expect(JSON.parse(JSON.stringify(node.via))).toEqual(node.via)
  })

  it('gives every partitioned stream built a name of its own', () => {
    const again = jetStreamPartitions({ servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', partitions: 4, codec: Row })
    expect(again[REPARTITION_VIA]).not.toBe(via[REPARTITION_VIA])
  })

  it('keeps its own plan node beside withWatermark (neither shares a function with the other)', () => {
    const op = repartition(user, t.string, { via })
    withWatermark((r: { ts: number }) => r.ts, 10)
    expect(op[PLAN].kind).toBe('repartition')
  })

  it('is not part of a compiled plan: the session splits the query there', () => {
    expect(() => compilePlan([repartition(user, t.string, { via })[PLAN]], 'append')).toThrow(/repartition #1: repartition splits a query in two/)
  })

  it('given no via (from plain JavaScript), throws nothing itself; start() refuses it, saying it got undefined', async () => {
    const op = repartition(user, t.string, { via: undefined as never })
    const start = createSession()
      .readStream(memorySource<{ user: string }>().source)
      .pipe(op, groupBy(user, t.string), count())
      .writeStream({ outputMode: 'update', sink: memorySink(), checkpointLocation: checkpoint() })
      .start()
    await expect(start).rejects.toBeInstanceOf(InvalidQueryError)
    await expect(start).rejects.toThrow(/^repartition #1: via must be a partitioned stream .* got undefined$/)
  })
})
