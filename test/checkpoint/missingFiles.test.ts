/**
 * A checkpoint file deleted by hand (or lost by a bad copy) is named, never papered over: a restart that would
 * otherwise undercount (a lost state delta) or double count (a lost source log) refuses with
 * CheckpointCorruptedError naming what is missing, and the sink gets nothing.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { CheckpointCorruptedError, count, createSession, foreachBatch, groupBy, jsonFiles, StreamingQueryError, trigger } from '../../src/index.js'
import { useTempDir } from './tempDir.js'

const Click = t.type({ user: t.string })
type Click = t.TypeOf<typeof Click>

/** Counts clicks per user from one file per batch; `files` files are processed before anything is deleted. */
async function fixture(root: string, files: number) {
  const input = join(root, 'input')
  const checkpoint = join(root, 'checkpoint')
  const batches = new Map<number, unknown[]>()
  let n = 0
  const addFile = async () => {
    await mkdir(input, { recursive: true })
    const rows: Click[] = [{ user: `u${n % 3}` }, { user: 'all' }]
    await writeFile(join(input, `clicks-${String(n++).padStart(4, '0')}.json`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  }
  const run = async () => {
    const q = await createSession({ shufflePartitions: 2, snapshotInterval: 10 })
      .readStream(jsonFiles(input, { codec: Click, maxFilesPerTrigger: 1 }))
      .pipe(groupBy((c: Click) => c.user, t.string), count())
      .writeStream({
        outputMode: 'update',
        sink: foreachBatch((rows, batchId) => void batches.set(batchId, rows)),
        checkpointLocation: checkpoint,
        trigger: trigger.availableNow(),
      })
      .start()
    await q.awaitTermination()
  }
  for (let i = 0; i < files; i++) await addFile()
  await run()
  return { checkpoint, batches, addFile, run }
}

/** The partition directory of the count operator holding `name`. */
async function stateFile(checkpoint: string, name: string): Promise<string> {
  const dir = join(checkpoint, 'state', 'count')
  for (const partition of await readdir(dir)) {
    const path = join(dir, partition, name)
    if (await stat(path).then(() => true, () => false)) return path
  }
  throw new Error(`no state file ${name} under ${dir}`)
}

interface Deletion {
  readonly what: string
  readonly files: number
  /** Deletes it; returns the path the error must name. */
  readonly remove: (checkpoint: string) => Promise<string>
}

const deletions: Deletion[] = [
  {
    what: 'the latest state delta',
    files: 3,
    remove: async (c) => {
      const path = await stateFile(c, '2.delta')
      await rm(path)
      return path
    },
  },
  { what: 'the whole state/ directory', files: 3, remove: async (c) => (await rm(join(c, 'state'), { recursive: true }), join(c, 'state', 'count')) },
  { what: 'a source log entry', files: 3, remove: async (c) => (await rm(join(c, 'sources', '0', '1')), join(c, 'sources', '0', '1')) },
  { what: 'the source log compaction', files: 12, remove: async (c) => (await rm(join(c, 'sources', '0', '9.compact')), join(c, 'sources', '0')) },
  { what: 'the whole source log', files: 3, remove: async (c) => (await rm(join(c, 'sources'), { recursive: true }), join(c, 'sources', '0')) },
  { what: 'metadata, with offsets/ present', files: 3, remove: async (c) => (await rm(join(c, 'metadata')), join(c, 'metadata')) },
  { what: 'commits/, with offsets/ present', files: 3, remove: async (c) => (await rm(join(c, 'commits'), { recursive: true }), join(c, 'commits')) },
]

describe('a missing checkpoint file', () => {
  const dir = useTempDir()

  it.each(deletions)('$what: the restart refuses with CheckpointCorruptedError naming it, and the sink gets nothing', async ({ files, remove }) => {
    const f = await fixture(dir(), files)
    const missing = await remove(f.checkpoint)
    await f.addFile()
    f.batches.clear()
    const error = await f.run().catch((e: unknown) => e)
    const cause = error instanceof StreamingQueryError ? error.cause : error
    expect(cause).toBeInstanceOf(CheckpointCorruptedError)
    expect((cause as Error).message).toContain(missing)
    expect(f.batches.size).toBe(0)
  })
})
