import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSession, type CheckpointFs, foreachBatch, nodeFs, type Offset, type Source } from '../../src/index.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A source whose first batch cannot be read. */
function unreadable(): Source<number> {
  return {
    description: 'Unreadable',
    kind: 'unreadable',
    identity: 'unreadable',
    open: async () => ({
      initialOffset: (): Offset => 0,
      latestOffset: async () => 1,
      getBatch: async () => Promise.reject(new Error('the source cannot read this batch')),
      commit: async () => undefined,
      stop: async () => undefined,
    }),
  }
}

describe('a query that fails', () => {
  it('terminates only after the offsets write of its failed batch has settled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-settle-'))
    dirs.push(dir)
    const writes: { path: string; settledAt: number }[] = []
    // The offsets log is slow to become durable: the batch fails long before its write finishes.
    const slowOffsets: CheckpointFs = {
      ...nodeFs,
      writeFileAtomic: async (path, data) => {
        if (path.includes(`${join('offsets', '0')}`)) await new Promise((r) => setTimeout(r, 300))
        await nodeFs.writeFileAtomic(path, data)
        writes.push({ path, settledAt: Date.now() })
      },
    }
    const q = await createSession({ fs: slowOffsets })
      .readStream(unreadable())
      .writeStream({ outputMode: 'append', sink: foreachBatch(async () => undefined), checkpointLocation: join(dir, 'cp') })
      .start()
    const failed = await q.awaitTermination().then(
      () => undefined,
      (e: unknown) => e,
    )
    const terminatedAt = Date.now()
    expect(String(failed)).toContain('the source cannot read this batch')
    const offsets = writes.find((w) => w.path.includes(join('offsets', '0')))
    expect(offsets, 'the offsets of batch 0 were written before termination').toBeDefined()
    expect(offsets!.settledAt).toBeLessThanOrEqual(terminatedAt)
  })
})
