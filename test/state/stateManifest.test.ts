/**
 * The record of which state files a restore needs: what each commit records (snapshot and deltas per partition),
 * and the check a restart makes against the files on disk, which must refuse a lost file by name and accept files
 * that retention purged or a rescale replaced.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CheckpointCorruptedError } from '../../src/index.js'
import { StateManifest } from '../../src/state/stateManifest.js'
import type { PartitionDelta } from '../../src/state/stateStore.js'
import { thrownBy } from '../checkpoint/tempDir.js'

const delta = (partition: number): PartitionDelta => ({ partition, upserts: [], patches: [], removes: [], removedWindows: [] })
const dir = join('/ckpt', 'state', 'count', '0')
type Present = { batchId: number; kind: 'delta' | 'snapshot' }[]

describe('the state files a commit records', () => {
  it('lists, per partition, the batches that wrote a delta there since its last snapshot', () => {
    const manifest = StateManifest.of(undefined, 3)
    manifest.wrote(1, false, [delta(0), delta(2)])
    manifest.wrote(2, false, [delta(0)])
    expect(manifest.toRecord()).toEqual([
      { snapshot: null, deltas: [1, 2] },
      { snapshot: null, deltas: [] },
      { snapshot: null, deltas: [1] },
    ])
  })

  it('a snapshot batch replaces every partition record by that snapshot alone, whatever deltas it lists', () => {
    const manifest = StateManifest.of(undefined, 2)
    manifest.wrote(1, false, [delta(0), delta(1)])
    manifest.wrote(2, true, [delta(1)])
    manifest.wrote(3, false, [delta(1)])
    expect(manifest.toRecord()).toEqual([
      { snapshot: 2, deltas: [] },
      { snapshot: 2, deltas: [3] },
    ])
  })

  it('continues from the record of the last commit, without changing that record', () => {
    const recorded = [{ snapshot: 4, deltas: [5] }, { snapshot: 4, deltas: [] }]
    const manifest = StateManifest.of(recorded, 2)
    manifest.wrote(6, false, [delta(0), delta(1)])
    expect(manifest.toRecord()).toEqual([{ snapshot: 4, deltas: [5, 6] }, { snapshot: 4, deltas: [6] }])
    expect(recorded).toEqual([{ snapshot: 4, deltas: [5] }, { snapshot: 4, deltas: [] }])
    const record = manifest.toRecord()
    record[0]!.deltas.push(99)
    expect(manifest.toRecord()[0]!.deltas).toEqual([5, 6])
  })

  it('needs nothing when the recorded partition count differs from the checkpoint’s (the record predates a rescale)', () => {
    const manifest = StateManifest.of([{ snapshot: 4, deltas: [5] }, { snapshot: 4, deltas: [] }], 4)
    for (let p = 0; p < 4; p++) expect(() => manifest.check(p, dir, [])).not.toThrow()
    expect(manifest.toRecord()).toEqual(Array.from({ length: 4 }, () => ({ snapshot: null, deltas: [] })))
  })
})

describe('a restart checks the needed state files against the disk', () => {
  const needs = () => StateManifest.of([{ snapshot: 3, deltas: [4, 6] }], 1)

  it('accepts the needed files, and older files retention removed', () => {
    const present: Present = [{ batchId: 3, kind: 'snapshot' }, { batchId: 4, kind: 'delta' }, { batchId: 6, kind: 'delta' }]
    expect(() => needs().check(0, dir, present)).not.toThrow()
  })

  it('refuses a missing delta, naming the file', () => {
    const error = thrownBy(() => needs().check(0, dir, [{ batchId: 3, kind: 'snapshot' }, { batchId: 4, kind: 'delta' }]))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as CheckpointCorruptedError).path).toBe(join(dir, '6.delta'))
    expect((error as Error).message).toContain(`needs ${join(dir, '6.delta')}, which do not exist`)
  })

  it('refuses a missing snapshot, naming it first and listing every missing file', () => {
    const error = thrownBy(() => needs().check(0, dir, [{ batchId: 6, kind: 'delta' }]))
    expect((error as CheckpointCorruptedError).path).toBe(join(dir, '3.snapshot'))
    expect((error as Error).message).toContain(`needs ${join(dir, '3.snapshot')}, ${join(dir, '4.delta')}, which do not exist`)
  })

  it('refuses a lost delta of the first batches when the partition never had a snapshot', () => {
    const early = StateManifest.of([{ snapshot: null, deltas: [0, 1] }], 1)
    expect(() => early.check(0, dir, [{ batchId: 0, kind: 'delta' }, { batchId: 1, kind: 'delta' }])).not.toThrow()
    expect((thrownBy(() => early.check(0, dir, [{ batchId: 0, kind: 'delta' }])) as CheckpointCorruptedError).path).toBe(join(dir, '1.delta'))
    expect((thrownBy(() => early.check(0, dir, [{ batchId: 1, kind: 'delta' }])) as CheckpointCorruptedError).path).toBe(join(dir, '0.delta'))
  })

  it('does not take an older snapshot for the needed one', () => {
    const older = thrownBy(() => needs().check(0, dir, [{ batchId: 2, kind: 'snapshot' }, { batchId: 4, kind: 'delta' }, { batchId: 6, kind: 'delta' }]))
    expect((older as CheckpointCorruptedError).path).toBe(join(dir, '3.snapshot'))
  })

  it('accepts a later snapshot on disk (a rescale wrote it) in place of everything before it, but not of deltas after it', () => {
    expect(() => needs().check(0, dir, [{ batchId: 6, kind: 'snapshot' }])).not.toThrow()
    const after = StateManifest.of([{ snapshot: 3, deltas: [4, 7] }], 1)
    expect(() => after.check(0, dir, [{ batchId: 5, kind: 'snapshot' }, { batchId: 7, kind: 'delta' }])).not.toThrow()
    expect((thrownBy(() => after.check(0, dir, [{ batchId: 5, kind: 'snapshot' }])) as CheckpointCorruptedError).path).toBe(join(dir, '7.delta'))
  })
})
