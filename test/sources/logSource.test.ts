import * as fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { nodeFs } from '../../src/index.js'
import { type LogEntry, logSource, type PartitionedLog } from '../../src/sources/logSource.js'

/** An in-memory partitioned log: the offset and limit logic of logSource, without a broker. */
function memoryLog(partitions: number): PartitionedLog & { append(p: number, value: number): void } {
  const data: number[][] = Array.from({ length: partitions }, () => [])
  const log = {
    partitions: data.map((_, p) => `m.${p}`),
    initialPosition: 0,
    describe: (p: number) => `memory partition ${p}`,
    append(p: number, value: number) {
      data[p]!.push(value)
    },
    async latestPosition(p: number) {
      return data[p]!.length
    },
    async readRange(p: number, after: number | string, end: number | string, max: number): Promise<LogEntry[]> {
      const out: LogEntry[] = []
      for (let i = (after as number) + 1; i <= (end as number) && out.length < max; i++) {
        out.push({ position: i, text: JSON.stringify(data[p]![i - 1]) })
      }
      return out
    },
    close: async () => undefined,
  }
  return log
}

const Step = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), partition: fc.nat(3), count: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('batch' as const) }),
)

describe('logSource', () => {
  it('hands out every entry of every partition exactly once, in partition order, never more than the limit per batch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.array(Step, { maxLength: 40 }), async (partitions, max, steps) => {
        const log = memoryLog(partitions)
        const source = logSource<number>(
          { description: 'memory', kind: 'memory', identity: 'm', connector: 'memory', maxPerTrigger: max, maxOptionName: 'max', isTransient: () => false, open: async () => log },
          { codec: t.number },
        )
        const reader = await source.open({ fs: nodeFs, logDir: undefined, restarting: false })
        let next = 0
        const appended: number[][] = Array.from({ length: partitions }, () => [])
        const seen: number[][] = Array.from({ length: partitions }, () => [])
        let offset = reader.initialOffset()
        const runBatch = async () => {
          const end = await reader.latestOffset(offset, 'default')
          const rows = await reader.getBatch(offset, end)
          expect(rows.length).toBeLessThanOrEqual(max)
          for (const v of rows) seen[v % partitions]!.push(v)
          offset = end
          return rows.length
        }
        for (const step of steps) {
          if (step.kind === 'append') {
            const p = step.partition % partitions
            for (let i = 0; i < step.count; i++) {
              // Values carry their partition (v mod P), so the reader's output can be split back per partition.
              const v = next++ * partitions + p
              log.append(p, v)
              appended[p]!.push(v)
            }
          } else {
            await runBatch()
          }
        }
        while ((await runBatch()) > 0);
        expect(seen).toEqual(appended)
        await reader.stop()
      }),
      { numRuns: 200 },
    )
  })

  it('re-reads a batch range exactly when a restarted reader is asked for it', async () => {
    const log = memoryLog(2)
    for (let i = 0; i < 10; i++) log.append(i % 2, i)
    const spec = { description: 'memory', kind: 'memory', identity: 'm', connector: 'memory', maxPerTrigger: 3, maxOptionName: 'max', isTransient: () => false, open: async () => log }
    const first = await logSource<number>(spec, { codec: t.number }).open({ fs: nodeFs, logDir: undefined, restarting: false })
    const start = first.initialOffset()
    const end = await first.latestOffset(start, 'default')
    const rows = await first.getBatch(start, end)
    const again = await logSource<number>(spec, { codec: t.number }).open({ fs: nodeFs, logDir: undefined, restarting: true })
    expect(await again.getBatch(start, end)).toEqual(rows)
    expect(rows).toHaveLength(3)
  })
})
