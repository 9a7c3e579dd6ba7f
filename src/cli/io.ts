/**
 * What every command shares: where its output goes, the errors that end it with a one-line reason, and the parsing
 * of its options.
 */
import { parseArgs } from 'node:util'
import { CliError } from '../errors.js'

export { CliError }

/**
 * Where a command writes: `out` is its result (stdout), `err` its remarks (stderr). Text is written as given.
 * `status`, when present, shows a live one-line status that the next status replaces ('' clears it).
 */
export interface CliIo {
  out(text: string): void
  err(text: string): void
  status?(line: string): void
}

/** On a pipe or file, where a line cannot be replaced, a status line is written at most this often. */
const PIPED_STATUS_EVERY_MS = 5000
let lastPipedStatus = 0

/**
 * The process's stdout and stderr; on a terminal the status line is redrawn in place.
 * @example await runInspect(['/ckpt'], processIo)
 * @throws never.
 */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  status: (line) => {
    if (process.stdout.isTTY) {
      process.stdout.write(`\r\x1b[K${line.slice(0, Math.max(20, (process.stdout.columns ?? 120) - 1))}`)
    } else if (line !== '' && performance.now() - lastPipedStatus >= PIPED_STATUS_EVERY_MS) {
      lastPipedStatus = performance.now()
      process.stdout.write(`${line}\n`)
    }
  },
}

/**
 * The command line itself is wrong (unknown option, missing argument): shown with a pointer to `--help`, exit code 2.
 * @example throw new UsageError('missing <checkpoint>')
 */
export class UsageError extends CliError {}

/** The options of a command as `parseArgs` declares them. */
export type OptionSpecs = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>>

/** What {@link parseCommandArgs} returns: each option's value (absent when not given), `help`, and the positionals. */
export interface ParsedCommandArgs<O extends OptionSpecs> {
  readonly values: { readonly [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string } & { readonly help?: boolean }
  readonly positionals: string[]
}

/**
 * `parseArgs` in strict mode, with its errors turned into {@link UsageError}s.
 * @example const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } })
 * @throws UsageError for an unknown option, a missing option value or a stray positional.
 */
export function parseCommandArgs<O extends OptionSpecs>(argv: readonly string[], options: O): ParsedCommandArgs<O> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
    return { values: values as ParsedCommandArgs<O>['values'], positionals }
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.split('\n')[0]! : String(error))
  }
}

/**
 * Reads an integer option: `undefined` when absent, else an integer in `[min, ∞)`.
 * @example integerOption(values.partitions, '--partitions', 1) // 7
 * @throws UsageError when the text is not such an integer.
 */
export function integerOption(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${name} must be an integer ≥ ${min}, got '${text}'`)
  }
  return value
}

/**
 * The one positional argument `<checkpoint>` of a command.
 * @example const location = checkpointArgument(positionals, 'inspect')
 * @throws UsageError when it is missing or followed by more positionals.
 */
export function checkpointArgument(positionals: readonly string[], command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command}: missing <checkpoint>`)
  if (positionals.length > 1) throw new UsageError(`${command}: unexpected argument '${positionals[1]}'`)
  return positionals[0]!
}
