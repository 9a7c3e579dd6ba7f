/**
 * `commits/N` is handed to the file system before the state files of batch N are durable, to be written after them
 * (on the writer thread, while the next batch computes). A state write that fails must therefore still keep the
 * commit from ever appearing: the query fails naming the state file, and a restart re-runs the batch exactly.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, foreachBatch, groupBy, memorySource, type MemorySource } from '../../src/index.js'
import { useTempDir } from './tempDir.js'

const temp = useTempDir()

interface Click {
  readonly user: string
}

async function start(location: string, source: MemorySource<Click>, into: Map<string, number>) {
  return createSession({ shufflePartitions: 2, warn: () => {} })
    .readStream(source.source)
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: foreachBatch((rows) => rows.forEach((r) => into.set(r.key, r.count))),
      checkpointLocation: location,
    })
    .start()
}

describe('a state file that fails to write', () => {
  it('keeps its batch uncommitted (commits/N never appears), fails the query naming the file, and the batch re-runs', async () => {
    const location = join(temp(), 'checkpoint')
    const stateDir = join(location, 'state', 'count')
    const source = memorySource<Click>()
    const seen = new Map<string, number>()
    const first = await start(location, source, seen)
    source.addData([{ user: 'ann' }, { user: 'bob' }])
    await first.processAllAvailable()
    // Batch 1's state file cannot be created: its directory is now a file.
    renameSync(stateDir, `${stateDir}.aside`)
    writeFileSync(stateDir, 'not a directory')
    source.addData([{ user: 'ann' }])
    await first.processAllAvailable().catch(() => undefined)
    await first.stop()
    expect(String(first.exception?.message)).toContain(join(stateDir, '1.delta'))
    expect(existsSync(join(location, 'offsets', '1'))).toBe(true)
    expect(existsSync(join(location, 'commits', '1'))).toBe(false)

    rmSync(stateDir)
    renameSync(`${stateDir}.aside`, stateDir)
    const again = new Map<string, number>()
    const second = await start(location, source, again)
    await second.processAllAvailable()
    await second.stop()
    expect(second.exception).toBeUndefined()
    expect(second.lastProgress?.batchId).toBe(1)
    expect(Object.fromEntries(again)).toEqual({ ann: 2 })
    expect(existsSync(join(location, 'commits', '1'))).toBe(true)
  })
})
