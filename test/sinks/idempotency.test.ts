/** Sinks are idempotent by batchId: a batch id they already committed is skipped, also after a restart reopens them. */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { jsonFilesSink, memorySink, nodeFs, readJsonFilesSink, type Sink, type SinkContext } from '../../src/index.js'
import { useTempDir } from '../checkpoint/tempDir.js'

const temp = useTempDir()
const context = (outputMode: SinkContext['outputMode']): SinkContext => ({ queryName: undefined, outputMode, fs: nodeFs })

/** Opens the sink (as a query start does) and writes each batch in turn. */
async function deliver<R>(sink: Sink<R>, outputMode: SinkContext['outputMode'], batches: [number, R[]][]): Promise<void> {
  const writer = await sink.open(context(outputMode))
  for (const [batchId, rows] of batches) await writer.addBatch(batchId, rows)
  await writer.stop?.()
}

describe('memorySink', () => {
  it.each(['append', 'update', 'complete'] as const)('skips a batch id it already committed (%s)', async (mode) => {
    const sink = memorySink<{ key: string; n: number }>()
    await deliver(sink, mode, [[0, [{ key: 'a', n: 1 }]], [1, [{ key: 'b', n: 1 }]], [1, [{ key: 'b', n: 2 }]]])
    // A restart opens the sink again and re-runs batch 1 (and even 0): both are skipped.
    await deliver(sink, mode, [[0, [{ key: 'a', n: 9 }]], [1, [{ key: 'b', n: 9 }]]])
    const expected = { append: [{ key: 'a', n: 1 }, { key: 'b', n: 1 }], update: [{ key: 'a', n: 1 }, { key: 'b', n: 1 }], complete: [{ key: 'b', n: 1 }] }
    expect(sink.rows()).toEqual(expected[mode])
    expect(sink.lastBatchId).toBe(1)
  })
})

describe('jsonFilesSink', () => {
  it('skips a batch id whose manifest entry exists, also after the sink is opened again', async () => {
    const dir = join(temp(), 'out')
    await deliver(jsonFilesSink(dir), 'append', [[0, [{ n: 1 }]], [1, [{ n: 2 }]], [1, [{ n: 3 }]]])
    await deliver(jsonFilesSink(dir), 'append', [[1, [{ n: 4 }]], [2, [{ n: 5 }]]])
    expect(await readJsonFilesSink(dir)).toEqual([{ n: 1 }, { n: 2 }, { n: 5 }])
  })
})
