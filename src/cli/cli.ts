/**
 * cli/ — the `structured-rx` command line: parses arguments, calls the layers below (the checkpoint's reader and
 * rescale protocol, a session for the demo) and prints. It holds no protocol of its own.
 */
/**
 * The `structured-rx` command line: picks the command, runs it, and turns what it throws into an exit code and a
 * one-line reason. `main.ts` calls it with the process's arguments; tests call it in-process.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDemo } from './demo.js'
import { runInspect } from './inspect.js'
import { CliError, type CliIo, UsageError } from './io.js'
import { runRescale } from './rescale.js'
import { runState } from './state.js'

/** The help text of `structured-rx`: its commands and global options. */
export const USAGE = `Usage: structured-rx <command> [options]

Commands:
  demo [--dir D] [--duration T] [--rate N] [--port P]
      write activity data at a steady rate and run two checkpointed queries over it, with the dashboard
  inspect <checkpoint> [--json]
      batches, offsets, state sizes per partition and the plan fingerprint of a checkpoint
  state <checkpoint> --operator NAME [--partition P] [--limit N]
      the state rows of a stateful operator as JSON lines
  rescale <checkpoint> --partitions N
      redistribute the state of a stopped query over N shuffle partitions

Options:
  -h, --help     show help (also: structured-rx <command> --help)
  -v, --version  show the version
`

const COMMANDS: Readonly<Record<string, (argv: readonly string[], io: CliIo) => Promise<void>>> = {
  demo: runDemo,
  inspect: runInspect,
  state: runState,
  rescale: runRescale,
}

/** Exit codes: 0 done, 1 the command failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/**
 * Runs one command line (without the `node` and script arguments) and returns its exit code. Errors never escape:
 * they are written to `io.err` as `structured-rx: <reason>` on one line, without a stack trace.
 * @example process.exitCode = await runCli(process.argv.slice(2), processIo)
 * @throws never.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) {
    io.err(USAGE)
    return EXIT.usage
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE)
    return EXIT.ok
  }
  if (command === '--version' || command === '-v') {
    io.out(`${packageVersion()}\n`)
    return EXIT.ok
  }
  const run = COMMANDS[command]
  try {
    if (run === undefined) throw new UsageError(`unknown command '${command}'`)
    await run(rest, io)
    return EXIT.ok
  } catch (error) {
    io.err(`structured-rx: ${reasonOf(error)}\n`)
    if (error instanceof UsageError) {
      io.err(`Run 'structured-rx ${run === undefined ? '' : `${command} `}--help' for usage.\n`)
      return EXIT.usage
    }
    return EXIT.failed
  }
}

/** The message of an error on one line: library errors are written for users; anything else shows its name too. */
function reasonOf(error: unknown): string {
  const text =
    error instanceof CliError || (error instanceof Error && 'code' in error && typeof error.code === 'string')
      ? error.message
      : error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error)
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/** The version in the package.json above this file (two levels up from src/cli, three from dist/src/cli). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'structured-rx' && pkg.version !== undefined) return pkg.version
    } catch {
      // Not here: look one level up.
    }
  }
  return 'unknown'
}
