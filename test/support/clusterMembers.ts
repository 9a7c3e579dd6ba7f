/**
 * The in-process cluster members of one test file, stopped after each test (register it after the temp directories:
 * vitest runs after-each hooks last-registered first, so the members stop before their directories go), and a
 * wait on a condition that fails with what it waited for.
 */
import { afterEach } from 'vitest'

/**
 * Registers the clean-up and returns the list to push each started member to.
 * @example const members = useClusterMembers(); members.push(await startMember())
 */
export function useClusterMembers<M extends { stop(): Promise<void> }>(): M[] {
  const members: M[] = []
  afterEach(async () => {
    await Promise.all(members.splice(0).map((m) => m.stop()))
  })
  return members
}

/**
 * Resolves once `condition` holds, polling every 20 ms; fails after `timeoutMs` naming `what`.
 * @example await until('the member runs both tasks', () => query.runningTasks.length === 2)
 */
export async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
