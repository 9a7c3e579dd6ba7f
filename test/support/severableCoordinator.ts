/** A coordinator that a test can cut off from its store and reconnect: a network partition of one member. */
import type { Coordinator } from '../../src/index.js'

/**
 * A member's view of a coordinator that can be cut off: while severed, heartbeats, renewals and acquisitions hang
 * (a network partition), while `holds`, which the fence asks, still reaches the store.
 */
export function severable(inner: Coordinator) {
  let severed = false
  let healed: () => void = () => undefined
  let healing = Promise.resolve()
  const gate = async () => {
    if (severed) await healing
  }
  return {
    sever() {
      severed = true
      healing = new Promise((r) => (healed = r))
    },
    heal() {
      severed = false
      healed()
    },
    coordinator: {
      heartbeat: async (m) => (await gate(), inner.heartbeat(m)),
      leave: async (m) => (await gate(), inner.leave(m)),
      members: async () => (await gate(), inner.members()),
      leases: async () => (await gate(), inner.leases()),
      acquire: async (task, m) => (await gate(), inner.acquire(task, m)),
      renew: async (l) => (await gate(), inner.renew(l)),
      release: async (l) => (await gate(), inner.release(l)),
      holds: (task, m, epoch) => inner.holds(task, m, epoch),
    } satisfies Coordinator,
  }
}
