/** How the child-process scripts of the e2e tests run: only as a process's entry point, never when imported. */
import { pathToFileURL } from 'node:url'

/**
 * Runs `main(argv)` when `moduleUrl` is the process's entry point, exiting 0 when it resolves and 1 with the error on
 * stderr when it rejects.
 * @example runAsChild(import.meta.url, main)
 */
export function runAsChild(moduleUrl: string, main: (argv: readonly string[]) => Promise<void>): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    },
  )
}

/**
 * Runs a cluster member until SIGTERM stops it: prints `tasks <i,…>` whenever the tasks it runs change, then closes
 * its coordinator once the query ended. Without `ownSignalHandler`, SIGTERM is left to the library's handler.
 * @example await runMember(query, coordinator)
 */
export async function runMember(
  query: { readonly runningTasks: readonly number[]; stop(): Promise<void>; awaitTermination(): Promise<boolean> },
  coordinator: { close(): Promise<void> },
  options: { readonly ownSignalHandler: boolean } = { ownSignalHandler: true },
): Promise<void> {
  let shown = ''
  const show = setInterval(() => {
    const now = query.runningTasks.join(',')
    if (now !== shown) process.stdout.write(`tasks ${(shown = now)}\n`)
  }, 50)
  if (options.ownSignalHandler) process.once('SIGTERM', () => void query.stop())
  await query.awaitTermination().finally(() => clearInterval(show))
  await coordinator.close()
}
