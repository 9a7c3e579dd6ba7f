/**
 * `structured-rx rescale <checkpoint> --partitions N`: parses the arguments and prints what the checkpoint layer's
 * rescale protocol did.
 */
import { rescaleCheckpoint } from '../checkpoint/rescale.js'
import { checkpointArgument, type CliIo, integerOption, parseCommandArgs, UsageError } from './io.js'

/** The help text of `structured-rx rescale`. */
export const RESCALE_USAGE = `Usage: structured-rx rescale <checkpoint> --partitions N

Redistributes the state of a stopped query over N shuffle partitions. The last batch must be committed; the
checkpoint is locked while it runs. An interrupted rescale is finished by running the command again.
`

/**
 * The `rescale` command.
 * @example await runRescale(['/ckpt', '--partitions', '16'], processIo)
 * @throws UsageError for bad arguments; CliError, ConcurrentQueryError and checkpoint errors from {@link rescaleCheckpoint}.
 */
export async function runRescale(argv: readonly string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { partitions: { type: 'string', short: 'p' } })
  if (values.help) return io.out(RESCALE_USAGE)
  const location = checkpointArgument(positionals, 'rescale')
  const partitions = integerOption(values.partitions, '--partitions', 1)
  if (partitions === undefined) throw new UsageError('rescale: --partitions N is required')
  await rescaleCheckpoint(location, partitions, { log: (line) => io.out(`${line}\n`) })
}
