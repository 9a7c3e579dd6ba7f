/**
 * `structured-rx inspect <checkpoint> [--json]`: what a checkpoint holds — the query's identity, how far its batches
 * got, the last write-ahead-log entry, the size of each operator's state per partition, and the plan fingerprint.
 */
import { CURRENT_FORMAT_VERSION } from '../durable/format.js'
import { type CheckpointFs, nodeFs } from '../durable/fs.js'
import { readLockHolder } from '../durable/lock.js'
import type { PlanFingerprint } from '../plan/fingerprint.js'
import { loadEncodedState, readCheckpointSummary } from '../checkpoint/reader.js'
import { checkpointArgument, type CliIo, parseCommandArgs } from './io.js'
import { readRescaleMarker, type RescaleMarker } from '../checkpoint/rescale.js'
import { checkpointLayout } from '../checkpoint/layout.js'

/** State of one partition of an operator at the inspected batch. */
export interface PartitionReport {
  readonly partition: number
  readonly rows: number
  /** How many of the files a restart reads hold entries of this partition (from format v2 on a file holds many). */
  readonly files: number
}

/** One stateful operator, as the fingerprint records it, with its state at the inspected batch. */
export interface OperatorReport {
  readonly name: string
  readonly kind: string
  readonly keyCodec: string
  readonly stateCodec: string
  readonly version: number
  readonly timeout: string
  readonly window: string | null
  /** State versions in the headers of the files read (one, unless a migration is not yet snapshotted). */
  readonly stateVersions: readonly number[]
  readonly rows: number
  /** Bytes of the state files a restart reads (the latest snapshot and the deltas after it). */
  readonly bytes: number
  /** How many state files a restart reads. */
  readonly files: number
  readonly partitions: readonly PartitionReport[]
}

/** Everything `inspect` reports; `--json` prints it as is. */
export interface InspectReport {
  readonly location: string
  readonly id: string
  readonly formatVersion: number
  readonly shufflePartitions: number
  readonly createdAt: string
  readonly lock: Readonly<Record<string, unknown>> | null
  readonly batches: {
    readonly lastCommitted: number | null
    readonly commitsRetained: number
    readonly offsetsRetained: number
    readonly pending: readonly number[]
  }
  readonly lastOffsets: {
    readonly batchId: number
    readonly start: unknown
    readonly end: unknown
    readonly watermarkMs: number
    readonly batchTimestampMs: number
  } | null
  /** The batch whose state is reported: the last committed one. */
  readonly stateAtBatch: number | null
  readonly operators: readonly OperatorReport[]
  readonly rescaleInProgress: RescaleMarker | null
  readonly fingerprint: PlanFingerprint
}

/** The help text of `structured-rx inspect`. */
export const INSPECT_USAGE = `Usage: structured-rx inspect <checkpoint> [--json]

Shows a checkpoint: query id, format, shuffle partitions, committed and pending batches, the last offsets,
the state rows of each stateful operator per partition and the files and bytes a restart reads, and the plan fingerprint.
  --json   print one JSON object instead of the report
`

/**
 * The `inspect` command.
 * @example await runInspect(['/ckpt', '--json'], processIo)
 * @throws UsageError for bad arguments; the errors of {@link inspectCheckpoint}.
 */
export async function runInspect(argv: readonly string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } })
  if (values.help) return io.out(INSPECT_USAGE)
  const report = await inspectCheckpoint(checkpointArgument(positionals, 'inspect'))
  io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspectReport(report))
}

/**
 * Reads the checkpoint at `location` into an {@link InspectReport}, without the query's codecs and without the lock
 * (a running query may change it meanwhile; the report is as of the files read).
 * @example const report = await inspectCheckpoint('/ckpt')
 * @throws CliError when `location` is not a checkpoint; CheckpointCorruptedError / CheckpointVersionError for a bad file.
 */
export async function inspectCheckpoint(location: string, fs: CheckpointFs = nodeFs): Promise<InspectReport> {
  const summary = await readCheckpointSummary(fs, location)
  const { metadata, lastCommitted, lastOffsets } = summary
  const marker = (await readRescaleMarker(fs, location)) ?? null
  const operators: OperatorReport[] = []
  for (const op of metadata.fingerprint.statefulOperators) {
    // During an interrupted rescale an operator whose new directory is already swapped in has the new layout.
    const swapped =
      marker !== null && marker.operators.includes(op.name) && !(await fs.exists(checkpointLayout(location).rescaledState(op.name, marker.to)))
    const state = swapped
      ? await loadEncodedState(fs, location, op.name, lastCommitted, marker.to, CURRENT_FORMAT_VERSION)
      : await loadEncodedState(fs, location, op.name, lastCommitted, metadata.shufflePartitions, metadata.formatVersion)
    const partitions = state.partitions.map((p) => ({ partition: p.partition, rows: p.entries.size, files: p.files }))
    operators.push({
      ...op,
      stateVersions: [...new Set(state.files.map((f) => f.stateVersion))].sort((a, b) => a - b),
      rows: partitions.reduce((sum, p) => sum + p.rows, 0),
      bytes: state.bytes,
      files: state.files.length,
      partitions,
    })
  }
  return {
    location,
    id: metadata.id,
    formatVersion: metadata.formatVersion,
    shufflePartitions: metadata.shufflePartitions,
    createdAt: metadata.createdAt,
    lock: await lockHolderOf(fs, location),
    batches: {
      lastCommitted: lastCommitted ?? null,
      commitsRetained: summary.commits.length,
      offsetsRetained: summary.offsets.length,
      pending: summary.pending,
    },
    lastOffsets:
      lastOffsets === undefined
        ? null
        : {
            batchId: lastOffsets.batchId,
            start: lastOffsets.start,
            end: lastOffsets.end,
            watermarkMs: lastOffsets.watermarkMs,
            batchTimestampMs: lastOffsets.batchTimestampMs,
          },
    stateAtBatch: lastCommitted ?? null,
    operators,
    rescaleInProgress: marker,
    fingerprint: metadata.fingerprint,
  }
}

/** Who the lock file names, if there is one. It may be stale: the lock judges that when a query starts. */
async function lockHolderOf(fs: CheckpointFs, location: string): Promise<Record<string, unknown> | null> {
  const holder = await readLockHolder(fs, location)
  if (holder === undefined) return null
  return holder === 'unreadable' ? { unreadable: true } : { ...holder }
}

/**
 * The human-readable form of a report.
 * @example io.out(formatInspectReport(await inspectCheckpoint('/ckpt')))
 * @throws never.
 */
export function formatInspectReport(r: InspectReport): string {
  const out: string[] = []
  const field = (name: string, value: string) => out.push(`  ${name.padEnd(20)}${value}`)
  out.push(`Checkpoint ${r.location}`)
  field('query id', r.id)
  field('format version', `v${r.formatVersion}${r.formatVersion < CURRENT_FORMAT_VERSION ? ` (upgraded to v${CURRENT_FORMAT_VERSION} when a query next runs on it)` : ''}`)
  field('shuffle partitions', String(r.shufflePartitions))
  field('created at', r.createdAt)
  field('lock', describeLock(r.lock))
  if (r.rescaleInProgress !== null) {
    const m = r.rescaleInProgress
    const finish = `structured-rx rescale ${r.location} --partitions ${m.to}`
    field('RESCALE UNFINISHED', `${m.from} → ${m.to} partitions: run '${finish}' to finish it`)
  }

  out.push('', 'Batches')
  const b = r.batches
  field('last committed', b.lastCommitted === null ? 'none' : String(b.lastCommitted))
  field('commit files', `${b.commitsRetained} retained`)
  field('offset files', `${b.offsetsRetained} retained`)
  field('pending', b.pending.length === 0 ? 'none' : `${b.pending.join(', ')} (offsets logged, no commit: a restart re-runs it)`)

  if (r.lastOffsets !== null) {
    const o = r.lastOffsets
    out.push('', `Last offsets (batch ${o.batchId})`)
    field('start', JSON.stringify(o.start))
    field('end', JSON.stringify(o.end))
    field('watermark', o.watermarkMs === 0 ? '0 (none yet)' : `${o.watermarkMs} (${new Date(o.watermarkMs).toISOString()})`)
    field('batch timestamp', new Date(o.batchTimestampMs).toISOString())
  }

  out.push('', r.stateAtBatch === null ? 'State (no committed batch yet)' : `State at batch ${r.stateAtBatch}`)
  if (r.operators.length === 0) out.push('  no stateful operators')
  for (const op of r.operators) {
    const window = op.window === null ? '' : `, window ${op.window} ms`
    const versions = op.stateVersions.length === 0 ? '' : ` (files at state version ${op.stateVersions.join(', ')})`
    out.push(`  ${op.name}: ${op.kind}, key ${op.keyCodec}, state ${op.stateCodec}, version ${op.version}${window}${versions}`)
    out.push(...stateTable(op))
  }

  out.push('', 'Fingerprint', ...JSON.stringify(r.fingerprint, null, 2).split('\n').map((l) => `  ${l}`))
  return `${out.join('\n')}\n`
}

function describeLock(lock: InspectReport['lock']): string {
  if (lock === null) return 'free'
  if (lock.unreadable === true) return 'lock file present but unreadable (a restart takes it over)'
  const name = typeof lock.queryName === 'string' ? `query "${lock.queryName}", ` : ''
  const holder = `${name}pid ${String(lock.pid)} on ${String(lock.hostname)} since ${String(lock.startedAt)}`
  return `held by ${holder} (stale if that process is gone)`
}

function stateTable(op: OperatorReport): string[] {
  const rows = [
    ['partition', 'rows', 'files', 'bytes'],
    ...op.partitions.map((p) => [String(p.partition), String(p.rows), String(p.files), '']),
    ['total', String(op.rows), String(op.files), String(op.bytes)],
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows.map((row) => `    ${row.map((cell, i) => cell.padStart(widths[i]!)).join('  ')}`)
}
