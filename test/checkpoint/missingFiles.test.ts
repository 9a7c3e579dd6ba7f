/**
 * A checkpoint file deleted by hand (or lost by a bad copy) is named, never papered over: a restart that would
 * otherwise undercount (a lost state delta) or double count (a lost source log) refuses with
 * CheckpointCorruptedError naming what is missing, and the sink gets nothing.
 */
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CheckpointCorruptedError, StreamingQueryError } from '../../src/index.js'
import { fixture } from './clickQuery.js'
import { useTempDir } from './tempDir.js'

/** The state file `name` of the count operator (format v2: in the operator's directory). */
async function stateFile(checkpoint: string, name: string): Promise<string> {
  const dir = join(checkpoint, 'state', 'count')
  for (const partition of ['.', ...(await readdir(dir))]) {
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
    const f = await fixture(dir(), { files, snapshotInterval: 10, sink: 'counts' })
    const missing = await remove(f.checkpoint)
    await f.addFile()
    f.batches.clear()
    const error = await f.start().then((q) => q.awaitTermination()).catch((e: unknown) => e)
    const cause = error instanceof StreamingQueryError ? error.cause : error
    expect(cause).toBeInstanceOf(CheckpointCorruptedError)
    expect((cause as Error).message).toContain(missing)
    expect(f.batches.size).toBe(0)
  })

  it('metadata, with offsets/ present: the reason says why it cannot be made again and what to do', async () => {
    const f = await fixture(dir(), { files: 2, snapshotInterval: 10, sink: 'counts' })
    await rm(join(f.checkpoint, 'metadata'))
    const error = await f.start().then((q) => q.awaitTermination()).catch((e: unknown) => e)
    expect(error instanceof StreamingQueryError ? error.cause : error).toMatchObject({
      reason:
        `missing, while ${join(f.checkpoint, 'offsets')} holds batches: the query's id and plan are lost with it; ` +
        'restore it from a backup, or start the query on a new checkpoint location',
    })
  })
})
