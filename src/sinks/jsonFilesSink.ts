import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { nodeFs, type CheckpointFs } from '../checkpoint/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../checkpoint/format.js'
import { InvalidQueryError } from '../errors.js'
import type { Sink } from './sink.js'

const MANIFEST_DIR = '_manifest'
const ManifestEntry = t.intersection([
  t.type({ batchId: t.number, files: t.array(t.string), numRows: t.number }),
  // Entries written before queries were recorded have no queryId.
  t.partial({ queryId: t.string }),
])
/** `<batchId>` for the directory's first writer, `<batchId>.<queryId>` for a query that appends as a new writer. */
const ENTRY_NAME = /^(\d+)(?:\.([0-9A-Za-z-]+))?$/

/** Options of `jsonFilesSink`. */
export interface JsonFilesSinkOptions {
  /**
   * Write into a directory that another query wrote, keeping this query's batches apart from its (default false: such
   * a directory is refused, since batch ids of two queries would collide).
   */
  readonly appendAsNewWriter?: boolean
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
      if (ctx.checkpointLocation === undefined) {
        throw new InvalidQueryError(
          `jsonFilesSink(${dir}) needs a checkpointLocation: only the checkpoint tells a restarted query which batches ` +
            'it already wrote, so without one its output would be lost or duplicated',
        )
      }
      const fs = ctx.fs
      await fs.sweepTempFiles?.(dir)
      const owner = await ownerOf(fs, dir)
      const isOwner = owner === undefined || owner === 'legacy' || owner === ctx.queryId
      if (!isOwner && options.appendAsNewWriter !== true) {
        throw new InvalidQueryError(
          `jsonFilesSink(${dir}) holds the output of query ${owner}, and this is query ${ctx.queryId} (a new or ` +
            'missing checkpoint is a new query): its batch ids would collide with the ones there. Write to an empty ' +
            'directory, restart the other query on its own checkpoint, or pass { appendAsNewWriter: true } to add ' +
            "this query's batches next to the others",
        )
      }
      const suffix = isOwner ? '' : `.${ctx.queryId}`
      return {
        async addBatch(batchId, rows) {
          const manifest = join(dir, MANIFEST_DIR, `${batchId}${suffix}`)
          if (await fs.exists(manifest)) return
          const file = `part-${String(batchId).padStart(10, '0')}${isOwner ? '' : `-${ctx.queryId}`}.jsonl`
          const body = rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '')
          await fs.writeFileAtomic(join(dir, file), body)
          const entry = { batchId, files: [file], numRows: rows.length, queryId: ctx.queryId }
          await writeCheckpointJson(fs, manifest, ManifestEntry.encode(entry))
        },
      }
    },
  }
}

/** The query that owns the directory's plain `<batchId>` entries: from its latest entry; 'legacy' if it names none. */
async function ownerOf(fs: CheckpointFs, dir: string): Promise<string | undefined> {
  const latest = (await fs.readdir(join(dir, MANIFEST_DIR)))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => b - a)[0]
  if (latest === undefined) return undefined
  const entry = await readCheckpointJson(fs, join(dir, MANIFEST_DIR, String(latest)), ManifestEntry)
  return entry.queryId ?? 'legacy'
}

/**
 * Reads the rows a `jsonFilesSink` committed: only files listed in the manifest, the first writer's batches in batch
 * order, then those of each query that appended as a new writer (by query id), each in batch order.
 * @example const rows = await readJsonFilesSink<{ key: string }>('/out/events')
 * @throws CheckpointCorruptedError naming a manifest entry that fails its checksum.
 */
export async function readJsonFilesSink<R = unknown>(dir: string, fs: CheckpointFs = nodeFs): Promise<R[]> {
  const names = await readdir(join(dir, MANIFEST_DIR)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[]
    throw e
  })
  const entries = names
    .map((name) => ENTRY_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[0], batchId: Number(m[1]), writer: m[2] ?? '' }))
    .sort((a, b) => (a.writer === b.writer ? a.batchId - b.batchId : a.writer < b.writer ? -1 : 1))
  const rows: R[] = []
  for (const { name } of entries) {
    const entry = await readCheckpointJson(fs, join(dir, MANIFEST_DIR, name), ManifestEntry)
    for (const file of entry.files) {
      const text = await readFile(join(dir, file), 'utf8')
      for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as R)
    }
  }
  return rows
}
