import { describe, expect, it } from 'vitest'
import { filter, InvalidQueryError, map, memorySink, memorySource, type StreamingQuery } from '../../src/index.js'
import type { PlanNode } from '../../src/plan/nodes.js'
import { type QueryStarter, Stream, type WriteStreamOptions } from '../../src/stream.js'

/** A starter that records what it was asked to start. */
function recordingStarter() {
  const calls: { source: unknown; nodes: readonly PlanNode[]; options: WriteStreamOptions<unknown> }[] = []
  const query = { id: 'started' } as unknown as StreamingQuery
  const starter: QueryStarter = {
    async startQuery(source, nodes, options) {
      calls.push({ source, nodes, options })
      return query
    },
  }
  return { starter, calls, query }
}

describe('Stream', () => {
  it('pipe returns a new stream with the operators appended; the original is unchanged', () => {
    const { starter } = recordingStarter()
    const input = memorySource<number>()
    const base = new Stream<number>(starter, input.source, [])
    const double = map((x: number) => x * 2)
    const even = filter((x: number) => x % 2 === 0)
    const one = base.pipe(double)
    const two = one.pipe(even)
    expect(base.planNodes).toEqual([])
    expect(base.operators).toEqual([])
    expect(one.operators).toEqual([double])
    expect(two.operators).toEqual([double, even])
    expect(two.planNodes).toHaveLength(2)
    expect(two.planNodes[0]).toBe(one.planNodes[0])
    expect(two.sourceOf).toBe(input.source)
    expect(base.pipe()).not.toBe(base)
    expect(base.pipe().operators).toEqual([])
  })

  it('names the position of a plain RxJS operator, counting the operators piped before', () => {
    const { starter } = recordingStarter()
    const s = new Stream<number>(starter, memorySource<number>().source, []).pipe(map((x: number) => x))
    const plain = ((o: unknown) => o) as unknown as Parameters<typeof s.pipe>[0]
    expect(() => s.pipe(map((x: number) => x), plain)).toThrow(
      new TypeError('argument 3 of pipe() is not a structured-rx operator; plain RxJS operators cannot be compiled into an incremental plan (use map/filter/flatMap from structured-rx)'),
    )
  })

  it('writeStream().start() hands the source, the plan and the options to the session', async () => {
    const { starter, calls, query } = recordingStarter()
    const input = memorySource<number>()
    const s = new Stream<number>(starter, input.source, []).pipe(map((x: number) => x + 1))
    const options = { outputMode: 'append' as const, sink: memorySink<number>(), queryName: 'inc' }
    const writer = s.writeStream(options)
    expect(calls).toEqual([])
    await expect(writer.start()).resolves.toBe(query)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.source).toBe(input.source)
    expect(calls[0]!.nodes).toBe(s.planNodes)
    expect(calls[0]!.options).toBe(options)
  })

  it('start() refuses workerResourceLimits for a query without worker threads, before starting anything', async () => {
    const { starter, calls } = recordingStarter()
    const s = new Stream<number>(starter, memorySource<number>().source, [])
    const start = s.writeStream({ outputMode: 'append', sink: memorySink<number>(), workerResourceLimits: { maxOldGenerationSizeMb: 64 } }).start()
    await expect(start).rejects.toThrow(
      new InvalidQueryError('writeStream: workerResourceLimits sizes the heaps of worker threads; the query runs none (parallelism is 1)'),
    )
    expect(calls).toEqual([])
  })
})
