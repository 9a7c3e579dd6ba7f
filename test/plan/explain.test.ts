import * as t from 'io-ts'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { count, filter, groupBy, map, type StreamingQuery, withWatermark } from '../../src/index.js'
import { startQuery } from '../exec/support.js'

interface Click {
  readonly user: string
  readonly gt: string
  readonly ts: number
}

const started: StreamingQuery[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.stop()))
  vi.restoreAllMocks()
})

async function explainOf(): Promise<string> {
  vi.spyOn(console, 'log').mockImplementation(() => undefined)
  const q = await startQuery<Click, unknown>(
    (s) =>
      s.pipe(
        filter((c) => c.gt !== 'null'),
        map((c) => ({ ...c, user: c.user.toLowerCase() })),
        withWatermark((c) => c.ts, '10 seconds'),
        groupBy((c) => c.user, t.string, { window: { time: (c) => c.ts, size: '1 minute' } }),
        count(),
      ),
    { outputMode: 'append' },
  )
  started.push(q.query)
  return q.query.explain()
}

describe('explain()', () => {
  it('lists the fused stateless operators as one step, in pipe order', async () => {
    expect(await explainOf()).toMatch(/FusedStateless \[filter #1 → map #2\]/)
  })

  it('lists the stateful operator with its key codec, window, state codec and partitions', async () => {
    expect(await explainOf()).toMatch(/StatefulAggregate count \[key string, window 60000 ms\] \[state number, partitions=4\]/)
  })

  it('lists the watermark with its delay, the sink with the output mode, and the source', async () => {
    const text = await explainOf()
    expect(text).toMatch(/EventTimeWatermark \[withWatermark #3, delay=10000 ms\]/)
    expect(text).toMatch(/WriteToSink MemorySink \[outputMode=append\]/)
    expect(text).toMatch(/StreamingSource MemorySource/)
  })

  it('prints the plan sink first and source last, like Spark', async () => {
    const lines = (await explainOf()).split('\n')
    expect(lines[0]).toBe('== Incremental Plan ==')
    expect(lines[1]).toMatch(/^WriteToSink/)
    expect(lines.at(-1)).toMatch(/\+- StreamingSource/)
  })

  it('prints the plan to the console as well as returning it', async () => {
    const text = await explainOf()
    expect(console.log).toHaveBeenCalledWith(text)
  })

  it('prints the whole plan as a tree, each step one level below the one it feeds, from the sink down to the source', async () => {
    const lines = (await explainOf()).split('\n')
    expect(lines.slice(0, -1)).toEqual([
      '== Incremental Plan ==',
      'WriteToSink MemorySink [outputMode=append]',
      '+- StatefulAggregate count [key string, window 60000 ms] [state number, partitions=4]',
      '   +- EventTimeWatermark [withWatermark #3, delay=10000 ms]',
      '      +- FusedStateless [filter #1 → map #2] (one pass per batch)',
    ])
    // An unnamed memory source is shown with a number of its own.
    expect(lines.at(-1)).toMatch(/^ {9}\+- StreamingSource MemorySource\[\d+\]$/)
  })
})
