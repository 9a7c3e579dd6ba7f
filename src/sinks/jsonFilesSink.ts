import { join } from 'node:path'
import * as t from 'io-ts'
import { nodeFs, type CheckpointFs } from '../durable/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import { InvalidQueryError } from '../errors.js'
import type { Sink } from './sink.js'

const MANIFEST_DIR = '_manifest'
const TASK_PREFIX = 'task-'
const ManifestEntry = t.type({ batchId: t.number, files: t.array(t.string), numRows: t.number })

/**
 * Writes each micro-batch as a JSON-lines part file in `dir`, then commits it with a manifest entry
 * `_manifest/<batchId>` (like Spark's `_spark_metadata`). A batch whose manifest entry exists is skipped, so a
 * replayed batch never duplicates rows; part files of a batch that crashed before its manifest entry are
 * invisible to `readJsonFilesSink`. Supports output mode `append` (as Spark's file sink). The tasks of a query over a
 * partitioned source each write to `<dir>/task-<p>/` with a manifest of their own.
 * @example writeStream({ outputMode: 'append', sink: jsonFilesSink('/out/events'), checkpointLocation: '/ckpt/events' })
 */
export function jsonFilesSink(dir: string): Sink<unknown> {
  return {
    description: `FileSink[${dir}]`,
    async open(ctx) {
      if (ctx.outputMode !== 'append') {
        throw new InvalidQueryError(`jsonFilesSink(${dir}) supports output mode 'append' only, not '${ctx.outputMode}'`)
      }
      const fs = ctx.fs
      // Tasks number their batches independently: each writes and commits under its own sub-directory.
      const out = ctx.task === undefined ? dir : join(dir, `${TASK_PREFIX}${ctx.task.task}`)
      return {
        async addBatch(batchId, rows) {
          const manifest = join(out, MANIFEST_DIR, String(batchId))
          if (await fs.exists(manifest)) return
          const file = `part-${String(batchId).padStart(10, '0')}.jsonl`
          const body = rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '')
          await fs.writeFileAtomic(join(out, file), body)
          await writeCheckpointJson(fs, manifest, ManifestEntry.encode({ batchId, files: [file], numRows: rows.length }))
        },
      }
    },
  }
}

/**
 * Reads the rows a `jsonFilesSink` committed, in batch order: only files listed in the manifest; then those of each
 * task's sub-directory, in task order.
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
  const names = await fs.readdir(join(dir, MANIFEST_DIR))
  const batches = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b)
  const rows: R[] = []
  for (const batchId of batches) {
    const entry = await readCheckpointJson(fs, join(dir, MANIFEST_DIR, String(batchId)), ManifestEntry)
    for (const file of entry.files) {
      const text = (await fs.readFile(join(dir, file))).toString('utf8')
      for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as R)
    }
  }
  return rows
}
