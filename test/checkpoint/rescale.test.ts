/** rescaleCheckpoint through its API: what it reports and logs, and the checkpoints it must refuse or leave alone. */
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { readCheckpointSummary } from '../../src/checkpoint/reader.js'
import { readRescaleMarker, rescaleCheckpoint } from '../../src/checkpoint/rescale.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { readCheckpointFile, writeCheckpointFile } from '../../src/durable/format.js'
import type { CheckpointFs } from '../../src/durable/fs.js'
import { CliError } from '../../src/errors.js'
import { CheckpointCorruptedError, ConcurrentQueryError, count, createSession, dropDuplicates, groupBy, memorySink, memorySource, nodeFs } from '../../src/index.js'
import { countQuery, runOn, users } from '../cli/support.js'
import { rejectionOf, useTempDir } from './tempDir.js'

const tempDir = useTempDir()

/** The state file bodies of an operator, with each file's header line of state version and partitions. */
async function stateBodies(dir: string, operator: string): Promise<string[]> {
  const root = join(dir, 'state', operator)
  const names = (await readdir(root)).sort()
  return Promise.all(names.map((name) => readCheckpointFile(nodeFs, join(root, name))))
}

describe('rescaleCheckpoint', () => {
  it('logs each step and reports the batch, and the rows of each operator per new partition', async () => {
    const dir = tempDir()
    const query = countQuery(dir)
    await runOn(query, 4, [users(20), users(25)])
    const log: string[] = []
    const report = await rescaleCheckpoint(dir, 3, { log: (line) => log.push(line) })
    const perPartition = report.operators[0]!.rowsPerPartition
    expect(report).toEqual({ from: 4, to: 3, batchId: 1, resumed: undefined, operators: [{ name: 'count', rows: 25, rowsPerPartition: perPartition }] })
    expect(perPartition.reduce((a, b) => a + b)).toBe(25)
    expect(log).toEqual([
      `rescaling ${dir} from 4 to 3 partitions at batch 1`,
      `  count: 25 rows → 3 partitions [${perPartition.join(' ')}], written to state/count.rescale-3`,
      '  swapped state/count',
      `done: ${dir} now has 3 shuffle partitions`,
    ])
  })

  it('moves a checkpoint without a committed batch to the new count without writing state', async () => {
    const dir = tempDir()
    const query = countQuery(dir)
    await runOn(query, 4, [])
    const log: string[] = []
    const report = await rescaleCheckpoint(dir, 2, { log: (line) => log.push(line) })
    expect(report).toMatchObject({ from: 4, to: 2, batchId: null, operators: [{ name: 'count', rows: 0, rowsPerPartition: [0, 0] }] })
    expect(log[0]).toBe(`rescaling ${dir} from 4 to 2 partitions at batch (none committed)`)
    expect(await readdir(join(dir, 'state', 'count'))).toEqual([])
    await runOn(query, 2, [users(5, 2)])
    expect(query.table()).toEqual(query.expected())
  })

  it('reports nothing moved when the checkpoint already has that many partitions', async () => {
    const dir = tempDir()
    await runOn(countQuery(dir), 4, [users(3)])
    expect(await rescaleCheckpoint(dir, 4)).toEqual({ from: 4, to: 4, batchId: null, resumed: undefined, operators: [] })
  })

  it('writes the same files whatever partition count the state came from', async () => {
    const [a, b] = [tempDir(), join(tempDir(), 'b')]
    await runOn(countQuery(a), 4, [users(30), users(7)])
    await runOn(countQuery(b), 2, [users(30), users(7)])
    await rescaleCheckpoint(a, 3)
    await rescaleCheckpoint(b, 3)
    expect(await stateBodies(a, 'count')).toEqual(await stateBodies(b, 'count'))
  })

  it('names the state versions it found in ascending order when an operator mixes them', async () => {
    const dir = tempDir()
    await runOn(countQuery(dir), 2, [users(4), users(4)])
    const [file] = (await readdir(join(dir, 'state', 'count'))).filter((f) => f.startsWith('0.'))
    const path = join(dir, 'state', 'count', file!)
    await writeCheckpointFile(nodeFs, path, (await readCheckpointFile(nodeFs, path)).replace('{"stateVersion":1,', '{"stateVersion":2,'))
    const error = await rejectionOf(rescaleCheckpoint(dir, 5))
    expect(error).toBeInstanceOf(CliError)
    expect((error as Error).message).toContain("operator 'count': its state files carry state versions 1 and 2;")
  })

  it('writes the state version its files carry, not the one the query was started with', async () => {
    const dir = tempDir()
    await runOn(countQuery(dir), 2, [users(4), users(4)])
    for (const name of await readdir(join(dir, 'state', 'count'))) {
      const path = join(dir, 'state', 'count', name)
      await writeCheckpointFile(nodeFs, path, (await readCheckpointFile(nodeFs, path)).replace('{"stateVersion":1,', '{"stateVersion":2,'))
    }
    await rescaleCheckpoint(dir, 3)
    expect((await stateBodies(dir, 'count')).map((body) => body.split('\n')[0])).toEqual(['{"stateVersion":2,"partitions":3}'])
  })

  it('holds the checkpoint lock under its own name, so a query started meanwhile says who holds it', async () => {
    const dir = tempDir()
    const query = countQuery(dir)
    await runOn(query, 2, [users(4)])
    let refusal: unknown
    const watching: CheckpointFs = {
      ...nodeFs,
      writeFileAtomic: async (path, data) => {
        if (path === join(dir, 'rescale')) refusal ??= await rejectionOf(query.start(2))
        return nodeFs.writeFileAtomic(path, data)
      },
    }
    await rescaleCheckpoint(dir, 3, { fs: watching })
    expect(refusal).toBeInstanceOf(ConcurrentQueryError)
    expect((refusal as ConcurrentQueryError).holder).toMatch(/^query "structured-rx rescale", runId rescale-[0-9a-f-]{36}, /)
  })

  it('refuses a damaged rescale marker instead of ignoring it', async () => {
    const dir = tempDir()
    await runOn(countQuery(dir), 2, [users(4)])
    await writeFile(join(dir, 'rescale'), 'not a checkpoint file')
    expect(await rejectionOf(readRescaleMarker(nodeFs, dir))).toBeInstanceOf(CheckpointCorruptedError)
    expect(await rejectionOf(rescaleCheckpoint(dir, 3))).toBeInstanceOf(CheckpointCorruptedError)
    expect((await readCheckpointSummary(nodeFs, dir)).metadata.shufflePartitions).toBe(2)
  })
})

describe('rescale and operator names', () => {
  type Row = { id: string; user: string }
  /** A dropDuplicates of each name in turn, then a count per user. */
  async function checkpointWith(dir: string, names: string[]): Promise<void> {
    const input = memorySource<Row>({ name: 'rows' })
    let rows = createSession({ shufflePartitions: 2 }).readStream(input.source)
    for (const name of names) rows = rows.pipe(dropDuplicates((r: Row) => r.id, t.string, { name }))
    const q = await rows
      .pipe(groupBy((r: Row) => r.user, t.string), count())
      .writeStream({ outputMode: 'update', checkpointLocation: dir, sink: memorySink() })
      .start()
    input.addData(Array.from({ length: 12 }, (_, i) => ({ id: `e${i}`, user: `u${i % 5}` })))
    await q.processAllAvailable()
    await q.stop()
  }

  it('refuses an operator named like the work directory of another operator', async () => {
    const dir = tempDir()
    await checkpointWith(dir, ['count.rescale-3'])
    const error = await rejectionOf(rescaleCheckpoint(dir, 4))
    expect(error).toBeInstanceOf(CliError)
    expect((error as Error).message).toBe(
      "operator 'count.rescale-3' has the name of a rescale work directory of operator 'count'; rescale cannot run on this checkpoint",
    )
    expect(await readdir(join(dir, 'state'))).toEqual(expect.arrayContaining(['count', 'count.rescale-3']))
  })

  it('keeps operators whose names only look like work directories, and removes the litter of an earlier attempt', async () => {
    const dir = tempDir()
    // 'user.rescale-12' (the new layout of 'user') ends in digits where a work directory of 'count' would.
    const names = ['user', 'count.rescale-4x', 'count.rescale-x4', 'users.rescale-2']
    await checkpointWith(dir, names)
    await writeFile(join(dir, 'state', 'marker-of-nothing'), '')
    await writeFile(join(dir, 'state', 'count.rescale-13'), 'an attempt that died before its marker')
    const report = await rescaleCheckpoint(dir, 12)
    expect(report.operators.map((op) => [op.name, op.rows])).toEqual([...names.map((name) => [name, 12]), ['count', 5]])
    expect((await readdir(join(dir, 'state'))).sort()).toEqual([...names, 'count', 'marker-of-nothing'].sort())
    const inspected = await inspectCheckpoint(dir)
    expect(inspected.operators.map((op) => [op.name, op.partitions.length, op.rows])).toEqual([...names.map((name) => [name, 12, 12]), ['count', 12, 5]])
  })
})
