import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { count, createSession, groupBy, memorySink, memorySource } from '../../src/index.js'

describe('restart from a checkpoint', () => {
  it('continues counts exactly and keeps the query id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srx-restart-'))
    const session = createSession({ shufflePartitions: 4, snapshotInterval: 3 })
    const input = memorySource<{ k: string }>()
    const sink = memorySink<{ key: string; count: number }>()
    const start = () =>
      session
        .readStream(input.source)
        .pipe(groupBy((r) => r.k, t.string), count())
        .writeStream({ outputMode: 'update', sink, checkpointLocation: dir })
        .start()
    const q1 = await start()
    for (let i = 0; i < 5; i++) {
      input.addData([{ k: 'a' }, { k: String(i % 2) }])
      await q1.processAllAvailable()
    }
    await q1.stop()
    const q2 = await start()
    expect(q2.id).toBe(q1.id)
    expect(q2.runId).not.toBe(q1.runId)
    input.addData([{ k: 'a' }, { k: 'z' }])
    await q2.processAllAvailable()
    await q2.stop()
    const rows = sink.rows().sort((x, y) => x.key.localeCompare(y.key))
    expect(rows).toEqual([
      { key: '0', count: 3 },
      { key: '1', count: 2 },
      { key: 'a', count: 6 },
      { key: 'z', count: 1 },
    ])
    expect(q2.lastProgress?.batchId).toBe(5)
    await rm(dir, { recursive: true, force: true })
  })
})
