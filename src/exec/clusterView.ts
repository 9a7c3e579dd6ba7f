import { createHash } from 'node:crypto'
import type { Lease } from '../durable/lease.js'

/**
 * One task of a cluster's query and who holds it, as a member last saw the coordinator.
 * @example member.clusterView.tasks.filter((t) => !t.ownerLive) // tasks about to be taken over
 */
export interface ClusterTaskView {
  /** Its number: part two's task p is p; a repartitioned query's part one comes after them. */
  readonly task: number
  /** Its lease's name: `task-<p>`, or `repartition` (`repartition-task-<p>`) for part one of a repartitioned query. */
  readonly name: string
  /** The member holding its lease, if any member ever took it. */
  readonly owner: string | undefined
  readonly epoch: number | undefined
  /** Whether the owner is a live member (its heartbeat is fresh); a task whose owner is not live is taken over soon. */
  readonly ownerLive: boolean
}

/**
 * What one member of a cluster sees: the live members and every task's owner.
 * @example console.log(member.clusterView.members.length, 'members')
 */
export interface ClusterView {
  readonly cluster: string
  /** This member's id. */
  readonly member: string
  /** The live members, sorted. */
  readonly members: readonly string[]
  readonly tasks: readonly ClusterTaskView[]
}

/**
 * The coordinator's name of task p (before the cluster prefix).
 * @example taskKey(3) // 'task-3'
 * @throws never.
 */
export const taskKey = (p: number): string => `task-${p}`

/**
 * Builds a member's view from the live members and the coordinator's leases, keeping only this cluster's.
 * @example memberView('counts', 'm1', ['m1'], ['task-0', 'task-1'], leases, (id) => id.replace(/^counts\//, ''))
 * @throws never.
 */
export function memberView(
  cluster: string,
  member: string,
  live: readonly string[],
  tasks: readonly string[],
  leases: readonly Lease[],
  unprefixed: (id: string) => string | undefined,
): ClusterView {
  const byTask = new Map(leases.flatMap((l) => {
    const task = unprefixed(l.task)
    return task === undefined ? [] : [[task, l] as const]
  }))
  const views = tasks.map((name, p): ClusterTaskView => {
    const lease = byTask.get(name)
    const owner = lease === undefined ? undefined : unprefixed(lease.member)
    return { task: p, name, owner, epoch: lease?.epoch, ownerLive: owner !== undefined && live.includes(owner) }
  })
  return { cluster, member, members: [...live].sort(), tasks: views }
}

/** How a cluster's members and tasks are named in a coordinator that several clusters may share: `<cluster>/<id>`. */
export interface ClusterNames {
  prefixed(id: string): string
  /** The id without the prefix, or undefined for another cluster's. */
  unprefixed(id: string): string | undefined
  /** This cluster's ids among `ids`, without the prefix. */
  ours(ids: readonly string[]): string[]
}

/**
 * The names of cluster `name` in its coordinator.
 * @example clusterNames('counts').prefixed('task-3') // 'counts/task-3'
 * @throws never.
 */
export function clusterNames(name: string): ClusterNames {
  const prefix = `${name}/`
  const unprefixed = (id: string): string | undefined => (id.startsWith(prefix) ? id.slice(prefix.length) : undefined)
  return {
    prefixed: (id) => `${prefix}${id}`,
    unprefixed,
    ours: (ids) => ids.flatMap((id) => unprefixed(id) ?? []),
  }
}

/**
 * The id of a cluster's query, the same on every member and every restart: a UUID-shaped hash of the cluster's name
 * and checkpoint location.
 * @example clusterQueryId('counts', '/shared/ckpt/counts')
 * @throws never.
 */
export function clusterQueryId(name: string, checkpointLocation: string): string {
  const hash = createHash('sha1').update(`${name}\0${checkpointLocation}`).digest('hex')
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`
}
