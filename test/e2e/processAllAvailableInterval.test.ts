/**
 * `processAllAvailable()` wakes a query that waits for its next processing-time trigger; it must then resolve once
 * the data is processed, not a whole trigger interval later.
 */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, groupBy, memorySink, memorySource, trigger } from '../../src/index.js'

describe('processAllAvailable under a long processing-time trigger', () => {
  it('resolves as soon as data added while the query waits for its next trigger is committed', async () => {
    const input = memorySource<{ k: string }>()
    const sink = memorySink<{ key: string; count: number }>()
    const q = await createSession({ shufflePartitions: 2 })
      .readStream(input.source)
      .pipe(groupBy((r: { k: string }) => r.k, t.string), count())
      .writeStream({ outputMode: 'update', sink, trigger: trigger.processingTime('1 minute') })
      .start()
    try {
      await q.processAllAvailable()
      input.addData([{ k: 'a' }, { k: 'a' }])
      const outcome = await Promise.race([
        q.processAllAvailable().then(() => 'resolved'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000)),
      ])
      expect(sink.rows()).toEqual([{ key: 'a', count: 2 }])
      expect(outcome).toBe('resolved')
    } finally {
      await q.stop()
    }
  })
})
