/** Stopping a query whose sink hangs, and what an idle query costs. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSession, foreachBatch, memorySink, memorySource, type Source } from '../../src/index.js'

const created: string[] = []
afterEach(async () => {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** Resolves to 'hung' if `promise` has not settled after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'hung'> {
  return Promise.race([promise, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms))])
}

describe('stop(timeoutMs)', () => {
  it('abandons a batch stuck in its sink uncommitted, releases the lock, and the batch re-runs on restart', async () => {
    const checkpoint = await mkdtemp(join(tmpdir(), 'srx-stop-'))
    created.push(checkpoint)
    const input = memorySource<{ v: number }>()
    input.addData([{ v: 1 }, { v: 2 }])
    let entered!: () => void
    const stuck = new Promise<void>((resolve) => (entered = resolve))
    const q = await createSession()
      .readStream(input.source)
      .writeStream({
        outputMode: 'append',
        // A sink that never answers (a dead database connection without a timeout).
        sink: foreachBatch(() => {
          entered()
          return new Promise<void>(() => {})
        }),
        checkpointLocation: checkpoint,
      })
      .start()
    await stuck
    expect(await within(q.stop(200), 20_000)).toBeUndefined()
    expect(q.isActive).toBe(false)
    const sink = memorySink<{ v: number }>()
    const restarted = await createSession().readStream(input.source).writeStream({ outputMode: 'append', sink, checkpointLocation: checkpoint }).start()
    await restarted.processAllAvailable()
    await restarted.stop()
    expect(sink.rows()).toEqual([{ v: 1 }, { v: 2 }])
    expect(restarted.recentProgress[0]?.batchId).toBe(0)
  })
})

describe('an idle query', () => {
  it('backs off its polling instead of asking the source every 10 ms', async () => {
    const input = memorySource<{ v: number }>()
    let polls = 0
    const counted: Source<{ v: number }> = {
      ...input.source,
      async open(ctx) {
        const reader = await input.source.open(ctx)
        return {
          ...reader,
          latestOffset(start, limit) {
            polls++
            return reader.latestOffset(start, limit)
          },
        }
      },
    }
    const sink = memorySink<{ v: number }>()
    const q = await createSession().readStream(counted).writeStream({ outputMode: 'append', sink }).start()
    await q.processAllAvailable()
    const before = polls
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const idlePolls = polls - before
    // New data still wakes it at once.
    input.addData([{ v: 1 }])
    await q.processAllAvailable()
    await q.stop()
    expect(idlePolls).toBeLessThan(40)
    expect(sink.rows()).toEqual([{ v: 1 }])
  })
})
