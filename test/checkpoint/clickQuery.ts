/** The click-count query the checkpoint damage tests run, stop, damage and restart. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { count, createSession, foreachBatch, groupBy, jsonFiles, jsonFilesSink, trigger } from '../../src/index.js'

const Click = t.type({ user: t.string })
type Click = t.TypeOf<typeof Click>

/** A run of the click-count query: its input files, checkpoint and the batches its sink received. */
export interface Fixture {
  readonly input: string
  readonly checkpoint: string
  readonly out: string
  readonly batches: Map<number, unknown[]>
  readonly start: () => Promise<{ awaitTermination(): Promise<boolean> }>
  readonly addFile: () => Promise<void>
}

/**
 * Counts clicks per user from `jsonFiles` (one file per batch) into foreachBatch, or writes them to a JSON files
 * sink; `files` input files are processed to the end before the damage is done.
 */
export async function fixture(root: string, options: { files: number; snapshotInterval: number; sink: 'counts' | 'files' }): Promise<Fixture> {
  const input = join(root, 'input')
  const checkpoint = join(root, 'checkpoint')
  const out = join(root, 'out')
  const batches = new Map<number, unknown[]>()
  let files = 0
  const addFile = async () => {
    await mkdir(input, { recursive: true })
    const rows: Click[] = [{ user: `u${files % 3}` }, { user: 'all' }]
    await writeFile(join(input, `clicks-${String(files++).padStart(4, '0')}.json`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  }
  const start = () => {
    const stream = createSession({ shufflePartitions: 2, snapshotInterval: options.snapshotInterval })
      .readStream(jsonFiles(input, { codec: Click, maxFilesPerTrigger: 1 }))
    return options.sink === 'counts'
      ? stream
          .pipe(groupBy((c: Click) => c.user, t.string), count())
          .writeStream({
            outputMode: 'update',
            sink: foreachBatch((rows, batchId) => void batches.set(batchId, rows)),
            checkpointLocation: checkpoint,
            trigger: trigger.availableNow(),
          })
          .start()
      : stream
          .writeStream({ outputMode: 'append', sink: jsonFilesSink(out), checkpointLocation: checkpoint, trigger: trigger.availableNow() })
          .start()
  }
  for (let i = 0; i < options.files; i++) await addFile()
  await (await start()).awaitTermination()
  return { input, checkpoint, out, batches, start, addFile }
}

