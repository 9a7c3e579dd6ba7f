import { pathToFileURL } from 'node:url'

/**
 * Runs `main` with the process arguments when the module at `moduleUrl` is the one node was started with (a child
 * process a test spawns), and not when a test imports the module for its helpers. Exits 0 when `main` resolves;
 * prints the error's stack and exits 1 when it rejects.
 */
export function runWhenMain(moduleUrl: string, main: (args: string[]) => Promise<void>): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    },
  )
}
