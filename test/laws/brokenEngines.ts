/**
 * Deliberately broken engines and sinks, built through public seams (a sink of our own, a CheckpointFs wrapped around
 * the law's), so the tests can prove each law catches the bug it claims to catch. None of this is a model of good
 * code: every variant breaks one guarantee on purpose.
 */
import { basename, dirname, join } from 'node:path'
import type { Observable } from 'rxjs'
import { type CheckpointFs, type Codec, foreachBatch, groupBy, type Operator, PLAN, type PlanNode, type WindowGrouped } from '../../src/index.js'
import { withPlan } from '../../src/plan/nodes.js'
import { decodeCheckpointFile, encodeCheckpointFile } from '../../src/durable/format.js'
import type { DurableSink } from '../../laws/index.js'

/** A sink that appends every batch it is handed, a replay after a restart included: it does not skip batch ids. */
export function replayingSink<R>(): DurableSink<R> {
  const delivered: R[] = []
  return { sink: () => foreachBatch<R>((rows) => void delivered.push(...rows)), output: async () => delivered.slice() }
}

type Overrides = Partial<Pick<CheckpointFs, 'readFile' | 'readdir' | 'writeFileAtomic'>>

function wrap(inner: CheckpointFs, overrides: Overrides): CheckpointFs {
  return {
    readFile: (path) => inner.readFile(path),
    writeFileAtomic: (path, data) => inner.writeFileAtomic(path, data),
    appendFileDurable: (path, data) => inner.appendFileDurable(path, data),
    exists: (path) => inner.exists(path),
    readdir: (path) => inner.readdir(path),
    mkdirp: (path) => inner.mkdirp(path),
    remove: (path) => inner.remove(path),
    renameDurable: (from, to) => inner.renameDurable(from, to),
    size: (path) => inner.size(path),
    createExclusive: (path, data) => inner.createExclusive(path, data),
    ...overrides,
  }
}

const batchIds = (names: readonly string[]) => names.filter((n) => /^\d+$/.test(n)).map(Number)
const isLog = (path: string, log: 'offsets' | 'commits') => basename(dirname(path)) === log && /^\d+$/.test(basename(path))

/**
 * A recovery that skips a batch: on restart the last batch of the offsets log reads as committed (its commit entry
 * is made up from its offsets entry), so a batch that never reached the sink is never run.
 */
export function skipsPendingBatch(inner: CheckpointFs): CheckpointFs {
  const pendingOf = async (commitsDir: string) => {
    const logged = batchIds(await inner.readdir(join(dirname(commitsDir), 'offsets')))
    const committed = batchIds(await inner.readdir(commitsDir))
    const last = Math.max(-1, ...logged)
    return last > Math.max(-1, ...committed) ? last : undefined
  }
  return wrap(inner, {
    async readdir(path) {
      const names = await inner.readdir(path)
      if (basename(path) !== 'commits') return names
      const pending = await pendingOf(path)
      return pending === undefined ? names : [...names, String(pending)].sort()
    },
    async readFile(path) {
      if (!isLog(path, 'commits') || Number(basename(path)) !== (await pendingOf(dirname(path)))) return inner.readFile(path)
      const offsets = join(dirname(dirname(path)), 'offsets', basename(path))
      const entry = JSON.parse(decodeCheckpointFile(offsets, await inner.readFile(offsets)).body) as { watermarkMs: number }
      return Buffer.from(encodeCheckpointFile(JSON.stringify({ nextWatermarkMs: entry.watermarkMs })))
    },
  })
}

/**
 * A recovery that re-runs a batch: on restart the offsets entry of the last committed batch reads as ending where it
 * started, so the query resumes at the start of that batch and reads its rows a second time.
 */
export function rerunsCommittedBatch(inner: CheckpointFs): CheckpointFs {
  return wrap(inner, {
    async readFile(path) {
      const bytes = await inner.readFile(path)
      if (!isLog(path, 'offsets')) return bytes
      const committed = batchIds(await inner.readdir(join(dirname(dirname(path)), 'commits')))
      if (Number(basename(path)) !== Math.max(-1, ...committed)) return bytes
      const entry = JSON.parse(decodeCheckpointFile(path, bytes).body) as { start: unknown; end: unknown }
      return Buffer.from(encodeCheckpointFile(JSON.stringify({ ...entry, end: entry.start })))
    },
  })
}

/** A state store whose deltas lose a key: every delta file is written without its last upsert. */
export function losesDeltaKey(inner: CheckpointFs): CheckpointFs {
  return wrap(inner, {
    async writeFileAtomic(path, data) {
      if (!path.endsWith('.delta')) return inner.writeFileAtomic(path, data)
      const lines = decodeCheckpointFile(path, Buffer.from(data)).body.split('\n')
      const last = lines.map((l: string) => l.startsWith('{"u":')).lastIndexOf(true)
      const body = last < 0 ? lines : [...lines.slice(0, last), ...lines.slice(last + 1)]
      return inner.writeFileAtomic(path, encodeCheckpointFile(body.join('\n')))
    },
  })
}

/**
 * A write-ahead log written out of order: `offsets/N` is acknowledged at once and only written when the next
 * operation starts, so the sink gets batch N before its offsets are durable, and a crash in between loses them.
 */
export function offsetsAfterSink(inner: CheckpointFs): CheckpointFs {
  let deferred: (() => Promise<void>) | undefined
  const flush = async () => {
    const write = deferred
    deferred = undefined
    await write?.()
  }
  const after =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await flush()
      return op(...args)
    }
  return {
    ...wrap(inner, {}),
    async writeFileAtomic(path, data) {
      if (!isLog(path, 'offsets')) return after(inner.writeFileAtomic)(path, data)
      await flush()
      deferred = () => inner.writeFileAtomic(path, data)
    },
    appendFileDurable: after(inner.appendFileDurable),
    mkdirp: after(inner.mkdirp),
    remove: after(inner.remove),
    renameDurable: after(inner.renameDurable),
    createExclusive: after(inner.createExclusive),
  }
}

/**
 * `groupBy` by tumbling window whose plan puts a row one millisecond early: a row exactly at a window start lands in
 * the window before it, in the engine only (the RxJS reference stays right) — a window boundary off by one.
 */
export function offByOneWindowGroupBy<T, K>(
  keyOf: (row: T) => K,
  keyCodec: Codec<K>,
  window: { time: (row: T) => number; size: number },
): Operator<T, WindowGrouped<K, T>> {
  const right = groupBy(keyOf, keyCodec, { window })
  const node = right[PLAN] as PlanNode & { kind: 'groupBy' }
  const time = window.time
  return withPlan((rows: Observable<T>) => right(rows), {
    ...node,
    window: { ...node.window!, time: ((row: T) => time(row) - 1) as (row: never) => unknown },
  })
}
