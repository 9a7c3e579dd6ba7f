/**
 * Generated activity data for the demo: JSON-lines files of the Activity rows of the README's example (the shape of the
 * "Heterogeneity Human Activity Recognition" data set Spark's guide streams), from a seeded PRNG so every run
 * writes the same files.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'

/** One accelerometer reading of the activity data set; `gt` is the activity ('null' when unlabelled). */
export const Activity = t.type({
  Arrival_Time: t.number,
  Creation_Time: t.number,
  Device: t.string,
  Index: t.number,
  Model: t.string,
  User: t.string,
  gt: t.string,
  x: t.number,
  y: t.number,
  z: t.number,
})
/** A decoded activity row. */
export type Activity = t.TypeOf<typeof Activity>

/** The activity labels, 'null' included (the query filters it out). */
export const ACTIVITIES = ['stand', 'sit', 'walk', 'bike', 'stairsup', 'stairsdown', 'null'] as const

const MODELS = ['nexus4', 's3', 's3mini', 'samsungold'] as const
const USERS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] as const
/** 2015-02-23T10:18:55Z, when the original data set was recorded. */
const FIRST_ARRIVAL_MS = 1_424_686_735_090

/**
 * mulberry32: a tiny, well-distributed 32-bit PRNG; the same seed gives the same sequence on every platform.
 * @example const next = prng(42); next() // 0.6011…, always in [0, 1)
 * @throws never.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * The rows of file number `fileIndex`: the same for the same arguments, whatever other files exist. Arrival times
 * start at `firstArrivalMs` (default: the data set's own dates, a minute per file) and are `spacingMs` apart.
 * @example activityRows(0, 3, 42).map((r) => r.gt) // e.g. ['walk', 'null', 'sit']
 * @throws never.
 */
export function activityRows(
  fileIndex: number,
  rows: number,
  seed: number,
  firstArrivalMs = FIRST_ARRIVAL_MS + fileIndex * 60_000,
  spacingMs = 5,
): Activity[] {
  const random = prng(seed * 1_000_003 + fileIndex)
  const pick = <A>(values: readonly A[]): A => values[Math.floor(random() * values.length)]!
  const reading = () => Math.round((random() - 0.5) * 2_000_000) / 1_000_000
  const out: Activity[] = []
  for (let index = 0; index < rows; index++) {
    const arrival = Math.floor(firstArrivalMs + index * spacingMs + random() * spacingMs)
    const model = pick(MODELS)
    out.push({
      Arrival_Time: arrival,
      // Nanoseconds, as in the original data; the device clock runs a little behind the arrival time.
      Creation_Time: (arrival - 1 - Math.floor(random() * 2000)) * 1_000_000,
      Device: `${model}_${1 + Math.floor(random() * 2)}`,
      Index: index,
      Model: model,
      User: pick(USERS),
      gt: pick(ACTIVITIES),
      x: reading(),
      y: reading(),
      z: reading(),
    })
  }
  return out
}

/**
 * The name of activity file number `fileIndex`, so files sort (and are read) in the order they were written.
 * @example activityFileName(7) // 'part-00007.json'
 * @throws never.
 */
export function activityFileName(fileIndex: number): string {
  return `part-${String(fileIndex).padStart(5, '0')}.json`
}

/**
 * Writes `rowsPerFile[i]` rows to file number `firstFile + i` under `dir`, and counts the rows of each activity.
 * @example const counts = await writeActivityFiles('/tmp/data', 0, [1000, 1000], 42) // Map { 'walk' => 287, … }
 * @throws the file-system error of a write.
 */
export async function writeActivityFiles(
  dir: string,
  firstFile: number,
  rowsPerFile: readonly number[],
  seed: number,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (let i = 0; i < rowsPerFile.length; i++) {
    const rows = activityRows(firstFile + i, rowsPerFile[i]!, seed)
    for (const row of rows) counts.set(row.gt, (counts.get(row.gt) ?? 0) + 1)
    await writeFile(join(dir, activityFileName(firstFile + i)), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  }
  return counts
}
