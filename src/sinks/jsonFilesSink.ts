import { join } from 'node:path'
import { nodeFs, type CheckpointFs } from '../durable/fs.js'
import { InvalidQueryError } from '../errors.js'
import type { Sink } from './sink.js'
import { ownerOf, readManifest, WriterManifest } from './sinkManifest.js'

const TASK_PREFIX = 'task-'

/**
 * Options of `jsonFilesSink`.
 * @example jsonFilesSink('/out/events', { appendAsNewWriter: true, retentionMs: 7 * 24 * 3600_000 })
 */
export interface JsonFilesSinkOptions {
  /**
   * Write into a directory that another query wrote, keeping this query's batches apart from its (default false: such
   * a directory is refused, since batch ids of two queries would collide).
   */
  readonly appendAsNewWriter?: boolean
  /**
   * Batches committed longer ago than this are dropped from the manifest when it is compacted (every 10 batches), so
   * the manifest stays bounded; their part files stay on disk but are no longer read (default: kept forever).
   */
  readonly retentionMs?: number
}

/**
 * Writes each micro-batch as a JSON-lines part file in `dir`, then commits it with a manifest entry
 * `_manifest/<batchId>` recording the query id (like Spark's `_spark_metadata`). A batch whose manifest entry exists
 * is skipped, so a replayed batch never duplicates rows; part files of a batch that crashed before its manifest entry
 * are invisible to `readJsonFilesSink`. Supports output mode `append` (as Spark's file sink). Exactly-once needs the
 * query's checkpoint, so a query without `checkpointLocation` is refused; so is a query other than the one that wrote
 * `dir`, unless it passes `appendAsNewWriter` (its entries are then `_manifest/<batchId>.<queryId>`).
 * @example writeStream({ outputMode: 'append', sink: jsonFilesSink('/out/events'), checkpointLocation: '/ckpt/events' })
 * @throws InvalidQueryError at `start()`: an output mode other than append, no checkpoint location, or a directory
 * written by another query.
 */
export function jsonFilesSink(dir: string, options: JsonFilesSinkOptions = {}): Sink<unknown> {
  return {
    description: `FileSink[${dir}]`,
    async open(ctx) {
      if (ctx.outputMode !== 'append') {
        throw new InvalidQueryError(`jsonFilesSink(${dir}) supports output mode 'append' only, not '${ctx.outputMode}'`)
      }
      if (ctx.checkpointLocation === undefined && ctx.uniqueBatchIds !== true) {
        throw new InvalidQueryError(
          `jsonFilesSink(${dir}) needs a checkpointLocation: only the checkpoint tells a restarted query which batches ` +
            'it already wrote, so without one its output would be lost or duplicated',
        )
      }
      const fs = ctx.fs
      // Tasks number their batches independently: each writes and commits under its own sub-directory.
      const out = ctx.task === undefined ? dir : join(dir, `${TASK_PREFIX}${ctx.task.task}`)
      await fs.sweepTempFiles?.(out)
      const owner = await ownerOf(fs, out)
      const isOwner = owner === undefined || owner === 'legacy' || owner === ctx.queryId
      if (!isOwner && options.appendAsNewWriter !== true) {
        throw new InvalidQueryError(
          `jsonFilesSink(${out}) holds the output of query ${owner}, and this is query ${ctx.queryId} (a new or ` +
            'missing checkpoint is a new query): its batch ids would collide with the ones there. Write to an empty ' +
            'directory, restart the other query on its own checkpoint, or pass { appendAsNewWriter: true } to add ' +
            "this query's batches next to the others",
        )
      }
      const manifest = new WriterManifest(fs, out, isOwner ? '' : ctx.queryId, options.retentionMs)
      await manifest.load()
      return {
        async addBatch(batchId, rows) {
          if (await manifest.has(batchId)) return
          const file = `part-${String(batchId).padStart(10, '0')}${isOwner ? '' : `-${ctx.queryId}`}.jsonl`
          const body = rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '')
          await fs.writeFileAtomic(join(out, file), body)
          await manifest.add({ batchId, files: [file], numRows: rows.length, queryId: ctx.queryId, committedAt: Date.now() })
        },
      }
    },
  }
}

/**
 * Reads the rows a `jsonFilesSink` committed: only files listed in the manifest, the first writer's batches in batch
 * order, then those of each query that appended as a new writer (by query id), each in batch order; then the same
 * for each task's sub-directory, in task order.
 * @example const rows = await readJsonFilesSink<{ key: string }>('/out/events')
 * @throws CheckpointCorruptedError naming a manifest entry that fails its checksum.
 */
export async function readJsonFilesSink<R = unknown>(dir: string, fs: CheckpointFs = nodeFs): Promise<R[]> {
  const tasks = (await fs.readdir(dir))
    .filter((n) => n.startsWith(TASK_PREFIX) && /^\d+$/.test(n.slice(TASK_PREFIX.length)))
    .sort((a, b) => Number(a.slice(TASK_PREFIX.length)) - Number(b.slice(TASK_PREFIX.length)))
  const rows = await readCommitted<R>(dir, fs)
  for (const task of tasks) rows.push(...(await readCommitted<R>(join(dir, task), fs)))
  return rows
}

async function readCommitted<R>(dir: string, fs: CheckpointFs): Promise<R[]> {
  const rows: R[] = []
  for (const entry of await readManifest(fs, dir)) {
    for (const file of entry.files) {
      const text = (await fs.readFile(join(dir, file))).toString('utf8')
      for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as R)
    }
  }
  return rows
}
