import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSession, InvalidQueryError, memorySink, memorySource, readJsonFilesSink, WORKER_RESOURCE_LIMITS, type WorkerResourceLimits } from '../../src/index.js'
import { writeEvents } from './fixtures/events.js'
import { threadLimits, type ThreadLimitsRow } from './fixtures/workerLimits.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** Runs the query on 2 workers over 4 partitions and returns what each thread reported, by thread. */
async function limitsSeen(workerResourceLimits: WorkerResourceLimits | undefined): Promise<Map<number, Record<string, number>>> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-worker-limits-'))
  dirs.push(dir)
  const input = join(dir, 'in')
  const events = Array.from({ length: 40 }, (_, i) => ({ user: `user-${i}`, ts: i, items: [] }))
  await writeEvents(input, 4, 'events.jsonl', events, false)
  const query = await threadLimits.start({
    input, partitions: 4, parallelism: 2, output: join(dir, 'out'), checkpoint: join(dir, 'ckpt'), workerResourceLimits,
  })
  try {
    await query.processAllAvailable()
  } finally {
    await query.stop()
  }
  const rows = await readJsonFilesSink<ThreadLimitsRow>(join(dir, 'out'))
  expect(rows).toHaveLength(events.length)
  return new Map(rows.map((r) => [r.threadId, r.limits]))
}

describe('worker resource limits', () => {
  it('starts every worker thread with the default young generation when none is given', async () => {
    const seen = await limitsSeen(undefined)
    expect(seen.size).toBe(2)
    expect(seen.has(0)).toBe(false) // not the main thread
    for (const limits of seen.values()) expect(limits.maxYoungGenerationSizeMb).toBe(WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb)
  }, 60_000)

  it('starts every worker thread with the limits writeStream was given, the rest at their defaults', async () => {
    const seen = await limitsSeen({ maxYoungGenerationSizeMb: 48, maxOldGenerationSizeMb: 768 })
    expect(seen.size).toBe(2)
    for (const limits of seen.values()) {
      expect(limits.maxYoungGenerationSizeMb).toBe(48)
      expect(limits.maxOldGenerationSizeMb).toBe(768)
    }
  }, 60_000)

  const start = (workerResourceLimits: unknown, parallelism = 2) =>
    createSession()
      .readStream(memorySource<number>().source)
      .writeStream({ outputMode: 'append', sink: memorySink(), parallelism, workerResourceLimits: workerResourceLimits as WorkerResourceLimits })
      .start()

  it.each([
    [{ maxYoungGenerationSizeMb: -1 }, 'workerResourceLimits.maxYoungGenerationSizeMb must be a positive number of MiB, got -1'],
    [{ maxYoungGenerationSizeMb: 0 }, 'workerResourceLimits.maxYoungGenerationSizeMb must be a positive number of MiB, got 0'],
    [{ maxOldGenerationSizeMb: Number.NaN }, 'workerResourceLimits.maxOldGenerationSizeMb must be a positive number of MiB, got NaN'],
    [{ stackSizeMb: '4' }, 'workerResourceLimits.stackSizeMb must be a positive number of MiB, got "4"'],
    [{ maxYoungGenerationSizeMB: 96 }, "workerResourceLimits has no field 'maxYoungGenerationSizeMB' (fields: maxYoungGenerationSizeMb, maxOldGenerationSizeMb, codeRangeSizeMb, stackSizeMb)"],
    [96, 'workerResourceLimits must be an object of sizes in MiB, got number'],
    [null, 'workerResourceLimits must be an object of sizes in MiB, got null'],
  ])('refuses workerResourceLimits %j, naming the field', async (limits, message) => {
    await expect(start(limits)).rejects.toThrow(new InvalidQueryError(`writeStream: ${message}`))
  })

  it('refuses workerResourceLimits for a query that runs no worker threads', async () => {
    await expect(start({ maxYoungGenerationSizeMb: 96 }, 1)).rejects.toThrow(InvalidQueryError)
    await expect(start({ maxYoungGenerationSizeMb: 96 }, 1)).rejects.toThrow(/the query runs none \(parallelism is 1\)/)
  })
})
