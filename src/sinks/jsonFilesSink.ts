import { join } from 'node:path'
import * as t from 'io-ts'
import { nodeFs, type CheckpointFs } from '../durable/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../durable/format.js'
import { InvalidQueryError } from '../errors.js'
import type { Sink } from './sink.js'

const MANIFEST_DIR = '_manifest'
const ManifestEntry = t.type({ batchId: t.number, files: t.array(t.string), numRows: t.number })

/**
 * Writes each micro-batch as a JSON-lines part file in `dir`, then commits it with a manifest entry
 * `_manifest/<batchId>` (like Spark's `_spark_metadata`). A batch whose manifest entry exists is skipped, so a
 * replayed batch never duplicates rows; part files of a batch that crashed before its manifest entry are
 * invisible to `readJsonFilesSink`. Supports output mode `append` (as Spark's file sink).
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
      return {
        async addBatch(batchId, rows) {
          const manifest = join(dir, MANIFEST_DIR, String(batchId))
          if (await fs.exists(manifest)) return
          const file = `part-${String(batchId).padStart(10, '0')}.jsonl`
          const body = rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '')
          await fs.writeFileAtomic(join(dir, file), body)
          await writeCheckpointJson(fs, manifest, ManifestEntry.encode({ batchId, files: [file], numRows: rows.length }))
        },
      }
    },
  }
}

/**
 * Reads the rows a `jsonFilesSink` committed, in batch order: only files listed in the manifest.
 * @example const rows = await readJsonFilesSink<{ key: string }>('/out/events')
 * @throws CheckpointCorruptedError naming a manifest entry that fails its checksum.
 */
export async function readJsonFilesSink<R = unknown>(dir: string, fs: CheckpointFs = nodeFs): Promise<R[]> {
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
