/**
 * Which task of a partitioned query a state store belongs to, and the check that every key it is given hashes to that
 * task: a source that claims to be partitioned by key and is not fails at its first misplaced key.
 */
import { PartitioningMismatchError } from '../errors.js'
import type { ErasedCodec } from '../plan/nodes.js'
import { keyIdOf, partitionOf } from '../util/keys.js'

/** The task a store belongs to: task `task` of `tasks`, reading its partition of `source`. */
export interface TaskOwnership {
  readonly task: number
  readonly tasks: number
  readonly source: string
}

/**
 * Checks that a new key of `operator` belongs to the owning task's partition of the source.
 * @example checkOwned({ task: 1, tasks: 4, source: 'orders' }, 'count', t.string, 'alice')
 * @throws PartitioningMismatchError when the key's stable hash puts it in another task's partition.
 */
export function checkOwned(owner: TaskOwnership, operator: string, keyCodec: ErasedCodec, key: unknown): void {
  const { task, tasks, source } = owner
  const encoded = keyCodec.encode(key)
  const home = partitionOf(keyIdOf(encoded), tasks)
  if (home !== task) {
    throw new PartitioningMismatchError(
      `task ${task} of ${tasks} read key ${JSON.stringify(encoded)} of operator ${operator} from ` +
        `partition ${task} of ${source}, but the key's stable hash puts it in partition ${home}: the source is not ` +
        `partitioned by this operator's key. Write it with partitionBy of the same key (the engine's stable key ` +
        `hash), or read it as one unpartitioned source.`,
    )
  }
}
