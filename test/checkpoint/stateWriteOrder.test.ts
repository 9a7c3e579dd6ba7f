/**
 * The state files of batch N are written as soon as the batch has computed, beside its offsets write and its sink
 * call: they may be durable before `offsets/N` is, and before the sink has the batch. Only `commits/N` makes them
 * count, so a crash at either of these points must leave a checkpoint whose restart delivers every count exactly.
 * Each test holds the other write back until the state file is on disk, so the crash lands exactly there.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  type CheckpointFs,
  count,
  createSession,
  foreachBatch,
  groupBy,
  memorySource,
  type MemorySource,
  nodeFs,
  type Sink,
} from '../../src/index.js'
import { SimulatedCrash } from '../../src/testing.js'
import { useTempDir } from './tempDir.js'

const temp = useTempDir()

interface Click {
  readonly user: string
}
type Counts = Map<string, number>

/** Runs a count per user over `source` until it has drained or failed; the final counts the sink saw go to `into`. */
async function run(location: string, source: MemorySource<Click>, into: Counts, fs: CheckpointFs, sink?: Sink<{ key: string; count: number }>) {
  const q = await createSession({ fs, shufflePartitions: 2, warn: () => {} })
    .readStream(source.source)
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: sink ?? foreachBatch((rows) => rows.forEach((r) => into.set(r.key, r.count))),
      checkpointLocation: location,
    })
    .start()
  await q.processAllAvailable().catch(() => undefined)
  await q.stop()
  return q.exception
}

/** Resolves once `path` exists (the state write runs in the background), or rejects after `ms`. */
async function appears(path: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} was never written`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const clicks = (...users: string[]): Click[] => users.map((user) => ({ user }))

describe('a crash after the state file of a batch, before the rest of it', () => {
  it('before offsets/N is durable: the restart discards the state file and counts every click once', async () => {
    const location = join(temp(), 'checkpoint')
    const stateFile = join(location, 'state', 'count', '1.delta')
    const source = memorySource<Click>({ maxRowsPerTrigger: 2 })
    source.addData(clicks('ann', 'bob', 'ann', 'cy'))
    // offsets/1 waits until 1.delta is on disk, then the process "dies": nothing of it is written any more.
    let crashed = false
    const mutating = ['writeFileAtomic', 'appendFileDurable', 'mkdirp', 'remove', 'renameDurable', 'createExclusive'] as const
    const fs: CheckpointFs = { ...nodeFs }
    for (const op of mutating) {
      const inner = nodeFs[op] as (...args: unknown[]) => Promise<unknown>
      ;(fs as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
        const path = String(args[0])
        if (op === 'writeFileAtomic' && path === join(location, 'offsets', '1')) {
          await appears(stateFile)
          crashed = true
        }
        if (crashed) throw new SimulatedCrash(`${op} ${path}`)
        return inner(...args)
      }
    }
    const seen: Counts = new Map()
    const failure = await run(location, source, seen, fs)
    expect(failure?.cause ?? failure).toBeInstanceOf(SimulatedCrash)
    expect(existsSync(stateFile)).toBe(true)
    expect(existsSync(join(location, 'offsets', '1'))).toBe(false)
    expect(existsSync(join(location, 'commits', '1'))).toBe(false)

    source.addData(clicks('bob', 'dee'))
    await run(location, source, seen, nodeFs)
    expect(Object.fromEntries(seen)).toEqual({ ann: 2, bob: 2, cy: 1, dee: 1 })
  })

  it('while the sink runs and fails: the restart re-runs the batch on the committed state, counting every click once', async () => {
    const location = join(temp(), 'checkpoint')
    const stateFile = join(location, 'state', 'count', '1.delta')
    const source = memorySource<Click>({ maxRowsPerTrigger: 2 })
    source.addData(clicks('ann', 'bob', 'ann', 'cy'))
    const seen: Counts = new Map()
    let failedOnce = false
    const failingSink = foreachBatch<{ key: string; count: number }>(async (rows, batchId) => {
      if (batchId === 1 && !failedOnce) {
        // The state file of this very batch is written while the sink has it; the sink then fails.
        await appears(stateFile)
        failedOnce = true
        throw new Error('sink down')
      }
      rows.forEach((r) => seen.set(r.key, r.count))
    })
    const failure = await run(location, source, seen, nodeFs, failingSink)
    expect(failedOnce).toBe(true)
    expect(String(failure?.cause ?? failure)).toContain('sink down')
    expect(existsSync(join(location, 'commits', '1'))).toBe(false)

    source.addData(clicks('ann'))
    await run(location, source, seen, nodeFs)
    expect(Object.fromEntries(seen)).toEqual({ ann: 3, bob: 1, cy: 1 })
  })
})
