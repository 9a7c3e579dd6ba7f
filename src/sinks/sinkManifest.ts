/**
 * The manifest of a JSON files sink, `<dir>/_manifest/`: entry `<batchId>` lists the part files of a committed batch
 * and the query that wrote it (`<batchId>.<queryId>` for a query that appends as a new writer). Every 10 batches a
 * writer folds its entries into `<batchId>[.<queryId>].compact` and deletes them, so the directory holds a few files
 * however old the query is; with a retention, entries committed longer ago than it are dropped from the compaction
 * (their part files stay on disk, no longer listed), so the manifest's size is bounded too; a compaction also names the
 * query of its latest batch, so the directory keeps its owner when the retention leaves every entry out.
 */
import { join } from 'node:path'
import * as t from 'io-ts'
import type { CheckpointFs } from '../durable/fs.js'
import { readCheckpointJson, writeCheckpointJson } from '../durable/format.js'

const MANIFEST_DIR = '_manifest'
const COMPACT_INTERVAL = 10

export const ManifestEntry = t.intersection([
  t.type({ batchId: t.number, files: t.array(t.string), numRows: t.number }),
  // Entries written before queries were recorded have neither.
  t.partial({ queryId: t.string, committedAt: t.number }),
])
export type ManifestEntry = t.TypeOf<typeof ManifestEntry>
const CompactEntry = t.intersection([
  t.type({ upTo: t.number, entries: t.array(ManifestEntry) }),
  // The query of the latest batch folded in, which retention may have left out of `entries`; absent in older ones.
  t.partial({ queryId: t.string }),
])

/** A manifest file name: batch id, writer ('' for the directory's first writer) and whether it is a compaction. */
const NAME = /^(\d+)(?:\.(?!compact$)([0-9A-Za-z-]+?))?(\.compact)?$/

interface ManifestFile {
  readonly name: string
  readonly batchId: number
  readonly writer: string
  readonly compact: boolean
}

async function manifestFiles(fs: CheckpointFs, dir: string): Promise<ManifestFile[]> {
  return (await fs.readdir(join(dir, MANIFEST_DIR)))
    .map((name) => NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[0], batchId: Number(m[1]), writer: m[2] ?? '', compact: m[3] !== undefined }))
}

/**
 * Every committed entry of every writer: the first writer's in batch order, then each other writer's (by query id).
 * @throws CheckpointCorruptedError naming a manifest file that fails its checksum.
 */
export async function readManifest(fs: CheckpointFs, dir: string): Promise<ManifestEntry[]> {
  const files = await manifestFiles(fs, dir)
  const writers = [...new Set(files.map((f) => f.writer))].sort()
  const entries: ManifestEntry[] = []
  for (const writer of writers) entries.push(...(await new WriterManifest(fs, dir, writer).entries(files)))
  return entries
}

/**
 * The query that wrote the directory's plain entries: from its latest entry or compaction; 'legacy' when that names
 * no query (written by an older version); undefined for a directory without any.
 */
export async function ownerOf(fs: CheckpointFs, dir: string): Promise<string | undefined> {
  const latest = (await manifestFiles(fs, dir)).filter((f) => f.writer === '').sort((a, b) => b.batchId - a.batchId)[0]
  if (latest === undefined) return undefined
  const path = join(dir, MANIFEST_DIR, latest.name)
  if (!latest.compact) return (await readCheckpointJson(fs, path, ManifestEntry)).queryId ?? 'legacy'
  const compaction = await readCheckpointJson(fs, path, CompactEntry)
  return compaction.queryId ?? compaction.entries.at(-1)?.queryId ?? 'legacy'
}

/** One writer's part of the manifest. */
export class WriterManifest {
  private compactedUpTo = -1

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    /** '' for the directory's first writer, else the query id. */
    private readonly writer: string,
    private readonly retentionMs: number = Number.POSITIVE_INFINITY,
  ) {}

  private nameOf(batchId: number, compact = false): string {
    return `${batchId}${this.writer === '' ? '' : `.${this.writer}`}${compact ? '.compact' : ''}`
  }

  async load(): Promise<void> {
    const compacts = (await manifestFiles(this.fs, this.dir)).filter((f) => f.writer === this.writer && f.compact)
    this.compactedUpTo = Math.max(-1, ...compacts.map((f) => f.batchId))
  }

  /** Whether batch `batchId` is committed: folded into a compaction (only committed batches are) or has its entry. */
  async has(batchId: number): Promise<boolean> {
    return batchId <= this.compactedUpTo || (await this.fs.exists(join(this.dir, MANIFEST_DIR, this.nameOf(batchId))))
  }

  /** Commits a batch's entry; every 10 batches, folds the entries into a compaction. */
  async add(entry: ManifestEntry): Promise<void> {
    await writeCheckpointJson(this.fs, join(this.dir, MANIFEST_DIR, this.nameOf(entry.batchId)), ManifestEntry.encode(entry))
    if ((entry.batchId + 1) % COMPACT_INTERVAL === 0) await this.compact(entry.batchId, entry.queryId)
  }

  /** This writer's committed entries, in batch order. */
  async entries(files?: ManifestFile[]): Promise<ManifestEntry[]> {
    const mine = (files ?? (await manifestFiles(this.fs, this.dir))).filter((f) => f.writer === this.writer)
    const base = mine.filter((f) => f.compact).sort((a, b) => b.batchId - a.batchId)[0]
    const entries: ManifestEntry[] = []
    if (base !== undefined) entries.push(...(await readCheckpointJson(this.fs, join(this.dir, MANIFEST_DIR, base.name), CompactEntry)).entries)
    const upTo = base?.batchId ?? -1
    for (const f of mine.filter((x) => !x.compact && x.batchId > upTo).sort((a, b) => a.batchId - b.batchId)) {
      entries.push(await readCheckpointJson(this.fs, join(this.dir, MANIFEST_DIR, f.name), ManifestEntry))
    }
    return entries
  }

  /** Folds the entries up to `upTo` into a compaction named for `queryId`, the query that wrote batch `upTo`. */
  private async compact(upTo: number, queryId: string | undefined): Promise<void> {
    const since = Date.now() - this.retentionMs
    const entries = (await this.entries()).filter((e) => e.batchId <= upTo && (e.committedAt ?? Number.POSITIVE_INFINITY) >= since)
    // Named even when the retention leaves every entry out, so the directory stays that query's.
    await writeCheckpointJson(this.fs, join(this.dir, MANIFEST_DIR, this.nameOf(upTo, true)), CompactEntry.encode({ upTo, entries, queryId }))
    this.compactedUpTo = upTo
    for (const f of await manifestFiles(this.fs, this.dir)) {
      if (f.writer === this.writer && f.batchId <= upTo && !(f.compact && f.batchId === upTo)) {
        await this.fs.remove(join(this.dir, MANIFEST_DIR, f.name))
      }
    }
  }
}
