/**
 * `structured-rx state <checkpoint> --operator NAME [--partition P] [--limit N]`: the state rows of one operator at
 * the last committed batch, one JSON line each, in their codec-encoded form (no user codec needed).
 */
import { nodeFs, type CheckpointFs } from '../durable/fs.js'
import { entryId, loadEncodedState, operatorNamed, readCheckpointSummary } from '../checkpoint/reader.js'
import { checkpointArgument, type CliIo, integerOption, parseCommandArgs, UsageError } from './io.js'

/** One state row as `state` prints it. */
export interface StateRow {
  readonly partition: number
  /** The key as its codec encodes it. */
  readonly key: unknown
  readonly window?: { readonly start: number; readonly end: number }
  /** The state as its codec encodes it. */
  readonly state: unknown
  /** Epoch ms: a mapGroupsWithState timeout, or when a dropDuplicates key expires. */
  readonly timeoutAt?: number
}

/** The help text of `structured-rx state`. */
export const STATE_USAGE = `Usage: structured-rx state <checkpoint> --operator NAME [--partition P] [--limit N]

Prints the state rows of a stateful operator at the last committed batch as JSON lines
{ partition, key, window?, state, timeoutAt? }, keys and states in their codec-encoded form, sorted by partition
and key. A first line on stderr names the operator's codecs and state version.
  --operator NAME   the operator (see 'structured-rx inspect')
  --partition P     only partition P
  --limit N         at most N rows
`

/**
 * The `state` command.
 * @example await runState(['/ckpt', '--operator', 'count', '--limit', '10'], processIo)
 * @throws UsageError for bad arguments; CliError for an unknown operator or partition; checkpoint errors.
 */
export async function runState(argv: readonly string[], io: CliIo, fs: CheckpointFs = nodeFs): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, {
    operator: { type: 'string', short: 'o' },
    partition: { type: 'string' },
    limit: { type: 'string' },
  })
  if (values.help) return io.out(STATE_USAGE)
  const location = checkpointArgument(positionals, 'state')
  if (values.operator === undefined) throw new UsageError('state: --operator NAME is required')
  const only = integerOption(values.partition, '--partition', 0)
  const limit = integerOption(values.limit, '--limit', 0) ?? Infinity

  const { metadata, lastCommitted } = await readCheckpointSummary(fs, location)
  const op = operatorNamed(metadata.fingerprint.statefulOperators, values.operator)
  const partitions = metadata.shufflePartitions
  if (only !== undefined && only >= partitions) {
    throw new UsageError(`--partition must be below the checkpoint's ${partitions} shuffle partitions, got ${only}`)
  }
  const state = await loadEncodedState(fs, location, op.name, lastCommitted, partitions, metadata.formatVersion)
  const parts = state.partitions
  const fileVersions = [...new Set(state.files.map((f) => f.stateVersion))].filter((v) => v !== op.version)
  io.err(
    `# operator ${op.name} (${op.kind}): key codec ${op.keyCodec}, state codec ${op.stateCodec}, state version ` +
      `${op.version}${fileVersions.length > 0 ? ` (some files at version ${fileVersions.join(', ')}, not yet migrated)` : ''}; ` +
      `batch ${lastCommitted ?? 'none committed'}, ${partitions} partitions\n`,
  )
  let printed = 0
  for (const part of parts) {
    if (only !== undefined && part.partition !== only) continue
    const entries = [...part.entries.values()].sort((a, b) => compare(entryId(a), entryId(b)))
    for (const e of entries) {
      if (printed >= limit) return
      const row: StateRow = {
        partition: part.partition,
        key: e.k,
        ...(e.w === undefined ? {} : { window: { start: e.w[0], end: e.w[1] } }),
        state: e.s,
        ...(e.t === undefined ? {} : { timeoutAt: e.t }),
      }
      io.out(`${JSON.stringify(row)}\n`)
      printed++
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
