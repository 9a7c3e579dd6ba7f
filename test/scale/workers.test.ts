import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { defineQuery, QueryModuleError, readJsonFilesSink, scaleOutOf } from '../../src/index.js'
import { stableStringify } from '../../src/util/keys.js'
import { type Event, expectedCounts, writeEvents } from './fixtures/events.js'
import { windowedCounts } from './fixtures/windowedCounts.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-workers-'))
  dirs.push(dir)
  return dir
}

const sorted = <R>(rows: readonly R[]): string[] => rows.map((r) => stableStringify(r)).sort()

/** Runs the windowed counts over `input` to the end on `parallelism` threads and returns what the sink committed. */
async function run(input: string, partitions: number, parallelism: number): Promise<unknown[]> {
  const out = await tempDir()
  const query = await windowedCounts.start({
    input, partitions, parallelism, output: join(out, 'out'), checkpoint: join(out, 'ckpt'),
  })
  try {
    await query.processAllAvailable()
  } finally {
    await query.stop()
  }
  return readJsonFilesSink(join(out, 'out'))
}

const event = fc.record({
  user: fc.constantFrom(...Array.from({ length: 20 }, (_, i) => `user-${i}`)),
  ts: fc.integer({ min: 0, max: 120_000 }),
  items: fc.array(fc.record({ sku: fc.constantFrom('a', 'b'), qty: fc.integer({ min: 1, max: 5 }) }), { maxLength: 3 }),
})

describe('tasks on worker threads', () => {
  it('P = 8 tasks on 2 workers give exactly the single-thread result and the directly computed counts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 200 }), async (events: Event[]) => {
        const input = await tempDir()
        await writeEvents(input, 8, 'events.jsonl', events, true)
        const single = await run(input, 8, 1)
        const parallel = await run(input, 8, 2)
        expect(sorted(parallel)).toEqual(sorted(single))
        expect(sorted(parallel)).toEqual(sorted(expectedCounts(events)))
      }),
      { numRuns: 3 },
    )
  }, 180_000)

  it('shows every task with the worker thread that runs it, its last batch, and the sum of their rates', async () => {
    const input = await tempDir()
    const events = Array.from({ length: 400 }, (_, i): Event => ({ user: `user-${i % 30}`, ts: i * 100, items: [{ sku: 'a', qty: 1 }] }))
    await writeEvents(input, 4, 'events.jsonl', events, true)
    const out = await tempDir()
    const query = await windowedCounts.start({ input, partitions: 4, parallelism: 2, output: join(out, 'out'), checkpoint: join(out, 'ckpt') })
    try {
      await query.processAllAvailable()
      const status = scaleOutOf(query)!
      expect(status.tasks).toBe(4)
      expect(status.taskStatus.map((task) => [task.task, task.owner])).toEqual([[0, 'worker-0'], [1, 'worker-1'], [2, 'worker-0'], [3, 'worker-1']])
      for (const task of status.taskStatus) {
        // Every task ran its data batch and the batch that closed its windows.
        expect(task.lastBatchId).toBeGreaterThanOrEqual(1)
        expect(task.processedRowsPerSecond).not.toBeNull()
      }
      const sum = status.taskStatus.reduce((n, task) => n + task.processedRowsPerSecond!, 0)
      expect(status.aggregate.processedRowsPerSecond).toBeCloseTo(sum)
    } finally {
      await query.stop()
    }
  })

  it('refuses parallelism above 1 for a query not defined in a module', async () => {
    const { createSession, jsonFilesSink, partitionedSource, memorySource } = await import('../../src/index.js')
    const parts = [memorySource<number>(), memorySource<number>()]
    const start = createSession()
      .readStream(partitionedSource(parts.map((p) => p.source), { by: 'unknown' }))
      .writeStream({ outputMode: 'append', sink: jsonFilesSink(await tempDir()), parallelism: 2 })
      .start()
    await expect(start).rejects.toThrow(QueryModuleError)
    await expect(start).rejects.toThrow(/defineQuery\(import\.meta\.url/)
  })

  it('refuses a defined query that its module does not export under the given name', async () => {
    const stray = defineQuery(new URL('./fixtures/windowedCounts.ts', import.meta.url).href, 'notAQuery', () => {
      throw new Error('never built')
    })
    await expect(stray.start(undefined)).rejects.toThrow(/must export this query as 'notAQuery'/)
  })
})
