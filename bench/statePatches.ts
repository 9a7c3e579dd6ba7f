/**
 * Session state as patch deltas vs whole values: per user, a list of events that grows by 20 events a batch to
 * 1,000 events, checkpointed every batch. Both cases run the same query on the same rows; only the session's
 * `stateDeltas` differs. Time per batch is compared by the harness; state bytes written per batch are printed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import {
  type CheckpointFs,
  createSession,
  groupBy,
  mapGroupsWithState,
  memorySink,
  memorySource,
  nodeFs,
  type StreamingQuery,
} from '../src/index.js'
import { type BenchGroup, phasedCase } from './harness.js'

const USERS = 20
const BATCHES = 50
const EVENTS_PER_BATCH = 20
type Click = { user: string; page: string; at: number }
const Session = t.type({ user: t.string, events: t.array(t.type({ page: t.string, at: t.number })) })

function batchesOfClicks(): Click[][] {
  return Array.from({ length: BATCHES }, (_, b) =>
    Array.from({ length: USERS * EVENTS_PER_BATCH }, (_, i) => ({
      user: `user-${i % USERS}`,
      page: `/catalog/item/${(b * 7919 + i) % 5000}`,
      at: 1_700_000_000_000 + b * 1000 + i,
    })),
  )
}

/** Counts the bytes of state files written through it. */
function countingStateBytes(): { fs: CheckpointFs; bytes: { state: number } } {
  const bytes = { state: 0 }
  const fs: CheckpointFs = {
    ...nodeFs,
    async writeFileAtomic(path, data) {
      if (path.includes('/state/')) bytes.state += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
      return nodeFs.writeFileAtomic(path, data)
    },
  }
  return { fs, bytes }
}

const lastPrinted = new Map<string, string>()

function sessionCase(name: string, stateDeltas: 'patches' | 'whole', batches: Click[][]) {
  return phasedCase(name, USERS * EVENTS_PER_BATCH * BATCHES, {
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), 'srx-bench-patches-'))
      const { fs, bytes } = countingStateBytes()
      const input = memorySource<Click>()
      const sink = memorySink<{ key: string; events: number }>()
      const query: StreamingQuery = await createSession({ fs, shufflePartitions: 2, snapshotInterval: 1000, stateDeltas })
        .readStream(input.source)
        .pipe(
          groupBy((c: Click) => c.user, t.string),
          mapGroupsWithState<{ key: string; value: Click }, t.TypeOf<typeof Session>, number, 'events'>({
            name: 'events',
            version: 1,
            state: Session,
            update: (user, clicks, state) => {
              if (!state.exists) state.update({ user, events: [] })
              state.update((draft) => {
                for (const c of clicks) draft.events.push({ page: c.page, at: c.at })
              })
              return state.get().events.length
            },
          }),
        )
        .writeStream({ outputMode: 'update', sink, checkpointLocation: join(dir, 'ckpt') })
        .start()
      return { dir, input, query, sink, bytes }
    },
    async run({ input, query, sink }) {
      for (const batch of batches) {
        input.addData(batch)
        await query.processAllAvailable()
      }
      // The longest list: every user ends with all its events, whatever the sink kept of earlier batches.
      return sink.rows().reduce((most, r) => Math.max(most, r.events), 0)
    },
    async teardown({ dir, query, bytes }) {
      await query.stop()
      rmSync(dir, { recursive: true, force: true })
      if (query.exception) throw query.exception
      const line = `  ${name}: ${(bytes.state / BATCHES / 1024).toFixed(1)} KiB of state files per batch (${BATCHES} batches)`
      if (lastPrinted.get(name) !== line) console.log(line)
      lastPrinted.set(name, line)
    },
  })
}

export const statePatchesGroup: BenchGroup = {
  name: 'state-patches',
  description:
    `mapGroupsWithState session lists growing by ${EVENTS_PER_BATCH} events a batch to ${EVENTS_PER_BATCH * BATCHES} events ` +
    `for ${USERS} users, checkpointed every batch: patch deltas vs whole values`,
  prepare() {
    const batches = batchesOfClicks()
    return {
      cases: [sessionCase('patch deltas', 'patches', batches), sessionCase('whole values', 'whole', batches)],
      comparisons: [
        { title: 'patch deltas no slower than whole values', subject: 'patch deltas', baseline: 'whole values', target: 1 },
      ],
    }
  },
}
