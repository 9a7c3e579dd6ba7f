/**
 * The layout of a checkpoint directory: every path under `checkpointLocation` is spelled here and nowhere else.
 *
 * ```
 * <location>/metadata                     query id, partition count, plan fingerprint
 * <location>/lock.<epoch>                 the lock: the highest epoch names the running query (written by durable/lock)
 * <location>/offsets/<batchId>            write-ahead log: a batch's offsets, written before it runs
 * <location>/commits/<batchId>            commit log: written once the batch's output and state are durable
 * <location>/state/<operator>/<p>/<batchId>.delta|.snapshot   state files of one shuffle partition
 * <location>/sources/<i>/                 the i-th source's own log
 * <location>/tasks/<p>/                   task p of a query over a partitioned source: a whole checkpoint of its own
 * <location>/tasks/metadata               the number of tasks (tasksMetadata.ts): another count is refused at start
 * <location>/repartition/                 the part of a repartitioned query that writes rows by key: a whole checkpoint
 * <location>/rescale                      marker of an unfinished `structured-rx rescale`
 * <location>/state/<operator>.rescale-<n> the new layout a rescale writes, and <operator>.old the one it replaces
 * ```
 */
import { join } from 'node:path'

/**
 * The paths of one checkpoint location.
 * @example const layout = checkpointLayout('/ckpt'); layout.offsets // '/ckpt/offsets'
 * @throws never.
 */
export function checkpointLayout(location: string) {
  return {
    location,
    metadata: join(location, 'metadata'),
    offsets: join(location, 'offsets'),
    commits: join(location, 'commits'),
    /** The directory holding every operator's state directory. */
    stateRoot: join(location, 'state'),
    /** `state/<operator>`: the operator's partition directories. */
    state: (operator: string) => join(location, 'state', operator),
    /** `sources/<i>`: the log directory of the i-th source. */
    source: (index: number) => join(location, 'sources', String(index)),
    /** The directory holding the tasks' checkpoint sub-trees. */
    tasksRoot: join(location, 'tasks'),
    /** `tasks/<p>`: the checkpoint sub-tree of task p (same layout again, inside). */
    task: (index: number) => join(location, 'tasks', String(index)),
    /** `repartition`: the checkpoint of the part before `repartition` (its tasks run under `tasks/<p>`). */
    repartition: join(location, 'repartition'),
    rescaleMarker: join(location, 'rescale'),
    /** Where a rescale to `partitions` writes an operator's new state before swapping it in. */
    rescaledState: (operator: string, partitions: number) => join(location, 'state', `${operator}.rescale-${partitions}`),
    /** Where a rescale parks an operator's previous state while swapping. */
    replacedState: (operator: string) => join(location, 'state', `${operator}.old`),
  } as const
}

/** The paths of one checkpoint location, as {@link checkpointLayout} names them. */
export type CheckpointLayout = ReturnType<typeof checkpointLayout>

/** Names of the work directories a rescale leaves under `state/`: `<operator>.old` and `<operator>.rescale-<n>`. */
export const RESCALE_WORK_DIR = /^(.*)\.(old|rescale-\d+)$/
