import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import {
  BadRecordError,
  count,
  createSession,
  filter,
  groupBy,
  jsonFiles,
  jsonFilesSink,
  memorySink,
  readJsonFilesSink,
  StreamingQueryError,
  trigger,
} from '../../src/index.js'

const Activity = t.type({ User: t.string, gt: t.string, x: t.number })
type Activity = t.TypeOf<typeof Activity>

const tempDir = useTempDirs()
const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n'

describe('jsonFiles source', () => {
  it('runs the activity query with a checkpoint, stops, gets more files, restarts and continues its counts', async () => {
    const data = await tempDir('data')
    const ckpt = await tempDir('ckpt')
    await writeFile(join(data, 'part-000.json'), lines([{ User: 'a', gt: 'walk', x: 1 }, { User: 'b', gt: 'null', x: 2 }]))
    await writeFile(join(data, 'part-001.json'), lines([{ User: 'a', gt: 'sit', x: 1 }, { User: 'c', gt: 'walk', x: 0 }]))
    const run = async (session = createSession({ shufflePartitions: 8 })) => {
      const sink = memorySink<{ key: string; count: number }>()
      const q = await session
        .readStream(jsonFiles(data, { codec: Activity, maxFilesPerTrigger: 1 }))
        .pipe(filter((r: Activity) => r.gt !== 'null'), groupBy((r: Activity) => r.gt, t.string), count())
        .writeStream({ outputMode: 'complete', checkpointLocation: ckpt, queryName: 'test_stream', sink, trigger: trigger.availableNow() })
        .start()
      await q.awaitTermination()
      return { q, rows: sink.rows().sort((x, y) => x.key.localeCompare(y.key)) }
    }
    const first = await run()
    expect(first.rows).toEqual([{ key: 'sit', count: 1 }, { key: 'walk', count: 2 }])
    expect(first.q.recentProgress.map((p) => p.numInputRows)).toEqual([2, 2])
    await writeFile(join(data, 'part-002.jsonl'), lines([{ User: 'd', gt: 'sit', x: 5 }]))
    const second = await run()
    expect(second.rows).toEqual([{ key: 'sit', count: 2 }, { key: 'walk', count: 2 }])
    expect(second.q.id).toBe(first.q.id)
    expect(second.q.recentProgress.map((p) => p.batchId)).toEqual([2])
  })

  it('fails the query with BadRecordError naming file, line and codec path', async () => {
    const data = await tempDir('data')
    await writeFile(join(data, 'a.json'), lines([{ User: 'a', gt: 'walk', x: 1 }]) + '\n{"User":"b","gt":"walk","x":"oops"}\n')
    const q = await createSession()
      .readStream(jsonFiles(data, { codec: Activity }))
      .writeStream({ outputMode: 'append', sink: memorySink(), trigger: trigger.once() })
      .start()
    const error = await q.awaitTermination().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamingQueryError)
    const cause = (error as StreamingQueryError).cause
    expect(cause).toBeInstanceOf(BadRecordError)
    expect(cause).toMatchObject({ file: join(data, 'a.json'), line: 3, codecPath: '.x', code: 'SRX_BAD_RECORD' })
  })

  it('sends bad rows to the dead-letter directory and counts them in progress', async () => {
    const data = await tempDir('data')
    const dead = await tempDir('dead')
    await writeFile(join(data, 'a.json'), '{"User":"a","gt":"walk","x":1}\nnot json\n{"User":"c"}\n')
    const sink = memorySink<Activity>()
    const q = await createSession()
      .readStream(jsonFiles(data, { codec: Activity, badRecords: { path: dead } }))
      .writeStream({ outputMode: 'append', sink, trigger: trigger.once() })
      .start()
    await q.awaitTermination()
    expect(sink.rows()).toEqual([{ User: 'a', gt: 'walk', x: 1 }])
    expect(q.lastProgress?.sources[0]?.metrics).toMatchObject({ numBadRecords: 2 })
    const [file] = await readdir(dead)
    const records = (await readFile(join(dead, file!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; codecPath: string })
    expect(records.map((r) => r.line)).toEqual([2, 3])
    expect(records[1]!.codecPath).toBe('.gt')
  })
})

describe('jsonFilesSink', () => {
  it('skips a batch it already committed and exposes only committed rows', async () => {
    const out = await tempDir('out')
    const { nodeFs } = await import('../../src/index.js')
    const writer = await jsonFilesSink(out).open({ queryId: 'q1', queryName: undefined, checkpointLocation: '/unused', outputMode: 'append', fs: nodeFs })
    await writer.addBatch(0, [{ a: 1 }])
    await writer.addBatch(0, [{ a: 1 }])
    await writer.addBatch(1, [{ a: 2 }])
    await writeFile(join(out, 'part-0000000002.jsonl'), '{"a":3}\n')
    expect(await readJsonFilesSink(out)).toEqual([{ a: 1 }, { a: 2 }])
  })
})
