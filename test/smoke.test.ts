import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, filter, groupBy, memorySink, memorySource } from '../src/index.js'

describe('smoke', () => {
  it('counts groups in complete mode across batches', async () => {
    const session = createSession({ shufflePartitions: 4 })
    const input = memorySource<{ gt: string }>()
    const sink = memorySink<{ key: string; count: number }>()
    const q = await session
      .readStream(input.source)
      .pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count())
      .writeStream({ outputMode: 'complete', sink, queryName: 'smoke' })
      .start()
    input.addData([{ gt: 'a' }, { gt: 'b' }, { gt: 'null' }])
    await q.processAllAvailable()
    input.addData([{ gt: 'a' }])
    await q.processAllAvailable()
    expect(session.table('smoke')).toEqual([{ key: 'a', count: 2 }, { key: 'b', count: 1 }])
    q.explain()
    expect(q.lastProgress?.stateOperators[0]?.numRowsTotal).toBe(2)
    await q.stop()
  })
})
