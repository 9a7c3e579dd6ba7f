/**
 * A cluster member that the operator stops with Ctrl-C (SIGINT) or `kill` (SIGTERM) hands its tasks over at once:
 * its tasks stop after their current batch, their leases are released and it leaves the cluster, so the other
 * members take the tasks at their next heartbeat instead of waiting for the leases to expire. Node's default for
 * these signals ends the process on the spot, leaving its leases to run out.
 */

/** What a signal stops: a running member. */
interface Stoppable {
  stop(): Promise<void>
}

const members = new Map<NodeJS.Signals, Set<Stoppable>>()
const handlers = new Map<NodeJS.Signals, () => void>()

/**
 * Stops `member` when the process receives one of `signals`, and returns the function that stops watching (call it
 * once the member ended). The handler runs before any of the application's own: when the application listens to the
 * signal too, it decides what happens once the members stopped; when it does not, the process then ends by the signal
 * as it would have without the library, only after the hand-over. A second signal while members are stopping ends
 * the process at once (press Ctrl-C twice).
 * @example const unwatch = stopOnSignals(query, ['SIGINT', 'SIGTERM']); await query.awaitTermination(); unwatch()
 * @throws never.
 */
export function stopOnSignals(member: Stoppable, signals: readonly NodeJS.Signals[]): () => void {
  for (const signal of signals) {
    const watched = members.get(signal) ?? new Set()
    members.set(signal, watched.add(member))
    if (!handlers.has(signal)) install(signal)
  }
  return () => {
    for (const signal of signals) {
      const watched = members.get(signal)
      watched?.delete(member)
      if (watched?.size === 0) uninstall(signal)
    }
  }
}

function install(signal: NodeJS.Signals): void {
  let stopping = false
  const handler = (): void => {
    // Counted before any other listener runs (this one runs first), so a `once` listener of the application counts.
    const ownListeners = process.listenerCount(signal) > 1
    if (stopping) {
      if (!ownListeners) reraise(signal)
      return
    }
    stopping = true
    const stops = [...(members.get(signal) ?? [])].map((m) => m.stop().catch(() => undefined))
    void Promise.all(stops).then(() => {
      if (!ownListeners) reraise(signal)
    })
  }
  handlers.set(signal, handler)
  process.prependListener(signal, handler)
}

function uninstall(signal: NodeJS.Signals): void {
  const handler = handlers.get(signal)
  if (handler !== undefined) process.off(signal, handler)
  handlers.delete(signal)
  members.delete(signal)
}

/** Ends the process by `signal` the way Node's default would have, now that this module no longer listens to it. */
function reraise(signal: NodeJS.Signals): void {
  uninstall(signal)
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}
