import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, groupBy, memorySink, memorySource, withWatermark } from '../../src/index.js'

interface Click {
  readonly user: string
  readonly at: number
}

describe('state operator timings in progress', () => {
  it('reports the time spent updating state and, apart from it, the time spent evicting it', async () => {
    const input = memorySource<Click>()
    const q = await createSession({ shufflePartitions: 2 })
      .readStream(input.source)
      .pipe(
        withWatermark((c: Click) => c.at, 0),
        groupBy((c: Click) => c.user, t.string, { window: { time: (c: Click) => c.at, size: 1000 } }),
        count(),
      )
      .writeStream({ outputMode: 'append', sink: memorySink() })
      .start()
    try {
      // 100,000 distinct keys in the first window: folding them takes measurable time.
      input.addData(Array.from({ length: 100_000 }, (_, i) => ({ user: `u${i}`, at: 10 })))
      await q.processAllAvailable()
      const fold = q.lastProgress!.stateOperators[0]!
      expect(fold.allUpdatesTimeMs).toBeGreaterThan(0)
      expect(fold.allUpdatesTimeMs + fold.allRemovalsTimeMs).toBeLessThanOrEqual(q.lastProgress!.durationMs.addBatch! + 1)
      // A row far ahead moves the watermark past the first window: the next batch evicts all 100,000 windows.
      input.addData([{ user: 'late', at: 1_000_000 }])
      await q.processAllAvailable()
      const evicting = q.recentProgress.filter((p) => p.stateOperators[0]!.numRowsRemoved >= 100_000)
      expect(evicting).toHaveLength(1)
      const { allUpdatesTimeMs, allRemovalsTimeMs } = evicting[0]!.stateOperators[0]!
      expect(allRemovalsTimeMs).toBeGreaterThan(0)
      expect(allUpdatesTimeMs + allRemovalsTimeMs).toBeLessThanOrEqual(evicting[0]!.durationMs.addBatch! + 1)
    } finally {
      await q.stop()
    }
  })
})
