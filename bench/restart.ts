/**
 * Restart benchmark: restarting a query whose checkpoint holds 1,000,000 keys of group-by-count state, against
 * reading and decoding its snapshot file alone, and restarting one that holds 2,000,000 keys, against the 1,000,000
 * case — all in the same rounds.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { count, createSession, foreachBatch, groupBy, memorySource, nodeFs, type StreamingQuery } from '../src/index.js'
import { readCheckpointFile } from '../src/durable/format.js'
import { readStateLines } from '../src/state/stateFiles.js'
import { type BenchGroup, phasedCase } from './harness.js'

const scratch = mkdtempSync(join(tmpdir(), 'srx-bench-restart-'))
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }))

type Key = { k: string }

function countQuery(input: ReturnType<typeof memorySource<Key>>, location: string, snapshotInterval: number): Promise<StreamingQuery> {
  return createSession({ shufflePartitions: 8, snapshotInterval, warn: () => {} })
    .readStream(input.source)
    .pipe(groupBy((r: Key) => r.k, t.string), count())
    .writeStream({ outputMode: 'update', sink: foreachBatch(() => {}), checkpointLocation: location })
    .start()
}

/** A checkpoint whose last batch snapshotted `keys` keys of group-by-count state; returns it and its source offset. */
async function buildState(keys: number): Promise<{ location: string; offset: number }> {
  const location = join(scratch, `keys-${keys}`)
  const input = memorySource<Key>()
  const q = await countQuery(input, location, 1)
  input.addData(Array.from({ length: keys }, (_, i) => ({ k: `user-${i}` })))
  await q.processAllAvailable()
  input.addData([{ k: 'user-0' }])
  await q.processAllAvailable()
  await q.stop()
  return { location, offset: keys + 1 }
}

/**
 * Restarting the query on the checkpoint of `keys` keys until its first new batch has committed. The checksum is 1
 * when exactly `keys` keys (plus the new one) were restored.
 */
function restartCase(name: string, keys: number, state: { location: string; offset: number }) {
  // Each timed restart commits one more batch; the source must hold exactly what the checkpoint committed.
  let committed = state.offset
  return phasedCase(name, keys, {
    setup: () => {
      const input = memorySource<Key>()
      input.addData(Array.from({ length: committed }, () => ({ k: 'user-0' })))
      return { input, query: undefined as StreamingQuery | undefined }
    },
    async run(ctx) {
      ctx.query = await countQuery(ctx.input, state.location, 1_000_000)
      ctx.input.addData([{ k: 'fresh-key' }])
      await ctx.query.processAllAvailable()
      committed++
      return ((ctx.query!.lastProgress?.stateOperators[0]?.numRowsTotal ?? 0) - 1) / keys
    },
    async teardown(ctx) {
      await ctx.query?.stop()
      if (ctx.query?.exception) throw ctx.query.exception
    },
  })
}

export const restartGroup: BenchGroup = {
  name: 'restart',
  description:
    'restart (start() until the first new batch committed) of a query holding 1,000,000 keys of state vs reading and ' +
    'decoding its snapshot file alone, and of one holding 2,000,000 keys vs the 1,000,000 case',
  async prepare() {
    const million = await buildState(1_000_000)
    const twoMillion = await buildState(2_000_000)
    const stateDir = join(million.location, 'state', 'count')
    const decodeName = 'read + decode the 1M snapshot file'
    return {
      cases: [
        restartCase('restart, 1M keys', 1_000_000, million),
        phasedCase(decodeName, 1_000_000, {
          setup: () => undefined,
          async run() {
            let n = 0
            const snapshot = readdirSync(stateDir).filter((f) => f.endsWith('.snapshot')).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0]!
            const path = join(stateDir, snapshot)
            readStateLines(path, await readCheckpointFile(nodeFs, path), () => (line) => {
              const e = line as { k?: unknown; s?: unknown }
              if (e.k !== undefined && t.string.decode(e.k)._tag === 'Right' && t.number.decode(e.s)._tag === 'Right') n++
            })
            return n / 1_000_000
          },
        }),
        restartCase('restart, 2M keys', 2_000_000, twoMillion),
      ],
      comparisons: [
        { title: 'restart of 1M keys ≤ 1.2× reading + decoding its snapshot', subject: 'restart, 1M keys', baseline: decodeName, target: 0.83 },
        { title: 'restart of 2M keys ≤ 2× the time of 1M (rows/s ≥ 1×)', subject: 'restart, 2M keys', baseline: 'restart, 1M keys', target: 1 },
      ],
    }
  },
}
