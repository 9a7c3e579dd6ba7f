/**
 * The engine half of the migration laws: old states written to a real checkpoint by an operator at their version,
 * then restored by the same operator at the current version, through the engine's own decode and migrate path.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import {
  type Codec,
  createSession,
  type ErasedMigration,
  groupBy,
  mapGroupsWithState,
  memorySink,
  memorySource,
  type MemorySource,
  type Sink,
  type Stream,
  type StreamingQuery,
} from '../src/index.js'
import { errorText } from './codecs.js'

/** One old state per key: `i` is the index of the state in the list. */
interface Slot {
  readonly key: string
  readonly i: number
}

/** A restored state, boxed so that `undefined` state values stay visible. */
interface Restored {
  readonly value: unknown
}

const NAME = 'migrated'

/**
 * Writes `olds` (one per key) with an operator at `fromVersion` whose state codec is `codec`, then restores them with
 * one at `toVersion` carrying `migrations` and the current codec (or any value when there is none).
 * @returns the restored state of each old state by index, or why the restore failed.
 * @throws never.
 */
export async function restoredByEngine(
  migrations: readonly { readonly from: number; readonly to: number; readonly codec: t.Mixed }[],
  olds: readonly unknown[],
  options: { fromVersion: number; toVersion: number; codec: t.Mixed; current?: t.Mixed; directory?: string },
): Promise<{ states: Map<number, Restored> } | { failure: string }> {
  const root = await mkdtemp(join(options.directory ?? tmpdir(), 'srx-migration-law-'))
  const source = memorySource<Slot>()
  const slots = olds.map((_, i) => ({ key: `k${i}`, i }))
  const write = mapGroupsWithState<{ key: string; value: Slot }, unknown, undefined, typeof NAME>({
    name: NAME,
    version: options.fromVersion,
    state: options.codec as Codec<unknown>,
    update: (_key, rows, state) => {
      for (const row of rows) state.update(olds[row.i])
      return undefined
    },
  })
  const restore = mapGroupsWithState<{ key: string; value: Slot }, unknown, Restored | null, typeof NAME>({
    name: NAME,
    version: options.toVersion,
    state: (options.current ?? t.unknown) as Codec<unknown>,
    migrations: migrations as readonly ErasedMigration[],
    update: (_key, _rows, state) => (state.exists ? { value: state.get() } : null),
  })
  const restored = memorySink<{ key: string; [NAME]: Restored | null }>()
  try {
    const checkpointLocation = join(root, 'checkpoint')
    const before = await runOnce(source, (s) => s.pipe(groupBy((r) => r.key, t.string), write), memorySink(), checkpointLocation, slots)
    if (before !== undefined) return { failure: `the operator at version ${options.fromVersion} failed: ${before}` }
    const after = await runOnce(source, (s) => s.pipe(groupBy((r) => r.key, t.string), restore), restored, checkpointLocation, slots)
    if (after !== undefined) return { failure: `the operator at version ${options.toVersion} failed on the checkpoint: ${after}` }
    const states = new Map<number, Restored>()
    for (const row of restored.rows()) {
      const value = row[NAME]
      if (value !== null) states.set(Number(row.key.slice(1)), value)
    }
    return { states }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

/** Runs one query over one more batch of `slots`; returns why it failed, or undefined. */
async function runOnce<R>(
  source: MemorySource<Slot>,
  build: (s: Stream<Slot>) => Stream<R>,
  sink: Sink<R>,
  checkpointLocation: string,
  slots: readonly Slot[],
): Promise<string | undefined> {
  let running: StreamingQuery | undefined
  try {
    running = await build(createSession({ shufflePartitions: 2, warn: () => {} }).readStream(source.source))
      .writeStream({ outputMode: 'update', sink, checkpointLocation })
      .start()
    source.addData(slots)
    await running.processAllAvailable()
    return undefined
  } catch (error) {
    return errorText(error)
  } finally {
    await running?.stop()
  }
}
