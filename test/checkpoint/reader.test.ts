import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { entryId, loadEncodedState, readCheckpointSummary } from '../../src/checkpoint/reader.js'
import { encodeCheckpointFile, readCheckpointFile, writeCheckpointJson } from '../../src/durable/format.js'
import type { CheckpointFs } from '../../src/durable/fs.js'
import { CheckpointCorruptedError, nodeFs } from '../../src/index.js'
import { PatchedKey } from '../../src/state/stateEntries.js'
import { operatorStateFiles } from '../../src/state/stateFiles.js'
import { fixture } from './clickQuery.js'
import { rejectionOf, useTempDir } from './tempDir.js'

const tempDir = useTempDir()
const stateDir = (location: string) => join(location, 'state', 'op')
const v2Files = (location: string) => operatorStateFiles(nodeFs, stateDir(location), { formatVersion: 2, partitions: 1, stateVersion: 1 })
const patchDelta = (...patches: PatchedKey[]) => [{ partition: 0, upserts: [], patches, removes: [], removedWindows: [] }]

describe('loadEncodedState (the offline reader behind inspect, state and rescale)', () => {
  it('resolves patch lines of windowed and timed keys to whole entries that keep their window and new timeout', async () => {
    const location = tempDir()
    const files = v2Files(location)
    await files.writeSnapshot(0, [[{ k: 'a', w: [0, 10], s: { n: 1 }, t: 5 }, { k: 'b', s: { n: 1 } }]])
    await files.writeDelta(1, patchDelta(
      new PatchedKey('a', [{ op: 'replace', path: ['n'], value: 2 }], [0, 10], 7),
      new PatchedKey('b', [{ op: 'replace', path: ['n'], value: 3 }]),
    ))
    const { partitions: [partition] } = await loadEncodedState(nodeFs, location, 'op', 1, 1, 2)
    // Strict: an entry without a window or timeout must not carry the property at all (a rescale writes it back).
    expect(partition!.entries.get(entryId({ k: 'a', w: [0, 10] }))).toStrictEqual({ k: 'a', w: [0, 10], s: { n: 2 }, t: 7 })
    expect(partition!.entries.get('b')).toStrictEqual({ k: 'b', s: { n: 3 } })
  })

  it('refuses a patch of a key that had no state before it, naming the file and key', async () => {
    const location = tempDir()
    await v2Files(location).writeDelta(0, patchDelta(new PatchedKey('x', [{ op: 'replace', path: ['n'], value: 1 }])))
    const error = await rejectionOf(loadEncodedState(nodeFs, location, 'op', 0, 1, 2))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path: join(stateDir(location), '0.delta'), reason: 'line 3 patches the state of key "x", which has no earlier state' })
  })

  it('refuses a patch line in a format v1 delta, which never holds one, as a line that is not a state entry', async () => {
    const location = tempDir()
    const path = join(stateDir(location), '0', '1.delta')
    await operatorStateFiles(nodeFs, stateDir(location), { formatVersion: 1, partitions: 1, stateVersion: 1 }).writeSnapshot(0, [[{ k: 'x', s: { n: 1 } }]])
    const body = ['{"stateVersion":1}', '{"p":{"k":"x","d":[{"op":"replace","path":["n"],"value":2}]}}'].join('\n')
    await writeFile(path, encodeCheckpointFile(body, 1))
    const error = await rejectionOf(loadEncodedState(nodeFs, location, 'op', 1, 1, 1))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path, reason: 'line 2 is not a state entry' })
  })
})

describe('readCheckpointSummary', () => {
  it('refuses a write-ahead-log entry without its end offsets as corrupted, naming the file', async () => {
    const { checkpoint: location } = await fixture(tempDir(), { files: 1, snapshotInterval: 10, sink: 'counts' })
    const path = join(location, 'offsets', '0')
    const { end: _end, ...withoutEnd } = JSON.parse(await readCheckpointFile(nodeFs, path)) as Record<string, unknown>
    await writeCheckpointJson(nodeFs, path, withoutEnd)
    const error = await rejectionOf(readCheckpointSummary(nodeFs, location))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect(error).toMatchObject({ path, reason: expect.stringMatching(/\bend\b.*missing/) })
  })

  it('passes on a failure to list the location as it is, not as "not a directory"', async () => {
    const location = tempDir()
    const eio = Object.assign(new Error(`EIO: i/o error, scandir '${location}'`), { code: 'EIO' })
    const failingFs: CheckpointFs = { ...nodeFs, readdir: () => Promise.reject(eio) }
    expect(await rejectionOf(readCheckpointSummary(failingFs, location))).toBe(eio)
  })
})
