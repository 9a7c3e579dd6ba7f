/**
 * Sinks are idempotent by batchId: a batch id they already committed is skipped, also after a restart reopens them;
 * and what each one holds, exactly.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  foreachBatch,
  InvalidQueryError,
  jsonFilesSink,
  memorySink,
  nodeFs,
  readJsonFilesSink,
  type Sink,
  type SinkContext,
} from '../../src/index.js'
import { useTempDir } from '../checkpoint/tempDir.js'

const temp = useTempDir()
// A checkpointed query: sinks that need a checkpoint to be idempotent accept it.
const context = (outputMode: SinkContext['outputMode']): SinkContext => ({
  queryId: 'test-query',
  queryName: undefined,
  checkpointLocation: '/checkpoints/test-query',
  outputMode,
  fs: nodeFs,
})

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

  it('holds in complete mode the last batch of each task, in task order whatever order the tasks write in', async () => {
    const sink = memorySink<string>()
    const forTask = (task: number) => sink.open({ ...context('complete'), task: { task, tasks: 2 } })
    const [one, zero] = [await forTask(1), await forTask(0)]
    await one.addBatch(0, ['1:0'])
    await zero.addBatch(0, ['0:0'])
    expect(sink.rows()).toEqual(['0:0', '1:0'])
    await one.addBatch(1, ['1:1'])
    expect(sink.rows()).toEqual(['0:0', '1:1'])
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

describe('foreachBatch', () => {
  it('hands a batch id to the function once, even when the same writer gets it twice', async () => {
    const calls: [number, number[]][] = []
    await deliver(foreachBatch<number>((rows, batchId) => void calls.push([batchId, rows])), 'append', [[0, [1]], [0, [1]], [1, [2]]])
    expect(calls).toEqual([[0, [1]], [1, [2]]])
  })
})

describe('what the sinks hold', () => {
  it('memorySink keeps its own copies: changing a delivered or a returned array changes nothing', async () => {
    for (const mode of ['append', 'complete'] as const) {
      const sink = memorySink<number>()
      const writer = await sink.open(context(mode))
      const rows = [1, 2]
      await writer.addBatch(0, rows)
      rows.push(3)
      sink.rows().push(4)
      expect(sink.rows()).toEqual([1, 2])
    }
  })

  it("memorySink in complete mode keeps its own copy of a task's batch while other tasks write", async () => {
    const sink = memorySink<number>()
    const [zero, one] = await Promise.all([0, 1].map((task) => sink.open({ ...context('complete'), task: { task, tasks: 2 } })))
    const rows = [1, 2]
    await zero.addBatch(0, rows)
    rows.push(3)
    await one.addBatch(0, [10])
    expect(sink.rows()).toEqual([1, 2, 10])
  })

  it('memorySink in update mode keeps rows without a key (numbers, null) as they come', async () => {
    const sink = memorySink<unknown>()
    await deliver(sink, 'update', [[0, [1, null, { key: 'a', n: 1 }]], [1, [1, { key: 'a', n: 2 }]]])
    expect(sink.rows()).toEqual([1, null, { key: 'a', n: 2 }, 1])
  })

  it('jsonFilesSink reads batches back in numeric batch order, ignoring names in _manifest that are not batch ids', async () => {
    const dir = join(temp(), 'out')
    await deliver(jsonFilesSink(dir), 'append', Array.from({ length: 12 }, (_, i): [number, unknown[]] => [i, [{ i }]]))
    await writeFile(join(dir, '_manifest', 'notes'), 'not a batch')
    await writeFile(join(dir, '_manifest', '3x'), 'not a batch')
    await writeFile(join(dir, '_manifest', 'x3'), 'not a batch')
    expect(await readJsonFilesSink(dir)).toEqual(Array.from({ length: 12 }, (_, i) => ({ i })))
  })

  it('jsonFilesSink writes one JSON line per row, each ending in a newline; an empty batch is an empty file', async () => {
    const dir = join(temp(), 'out')
    await deliver(jsonFilesSink(dir), 'append', [[0, [{ a: 1 }, { a: 2 }]], [1, []]])
    expect(await readFile(join(dir, 'part-0000000000.jsonl'), 'utf8')).toBe('{"a":1}\n{"a":2}\n')
    expect(await readFile(join(dir, 'part-0000000001.jsonl'), 'utf8')).toBe('')
  })

  it('jsonFilesSink refuses output modes other than append, naming the directory', async () => {
    const dir = join(temp(), 'out')
    await expect(jsonFilesSink(dir).open(context('update'))).rejects.toThrow(new InvalidQueryError(`jsonFilesSink(${dir}) supports output mode 'append' only, not 'update'`))
  })

  it('sinks describe themselves for progress and explain()', () => {
    expect([memorySink().description, foreachBatch(() => {}).description, jsonFilesSink('/out').description]).toEqual([
      'MemorySink',
      'ForeachBatchSink',
      'FileSink[/out]',
    ])
  })
})
