/**
 * `<location>/tasks/metadata`: what every task of a query run as tasks shares — the query's id (stable across
 * restarts) and the number of tasks. Keyed state is split by the task count, so a checkpoint written with P tasks
 * cannot be resumed with another count without moving every key. Also the check that a location is resumed the way
 * it was written: as one query, or as tasks.
 */
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import * as t from 'io-ts'
import type { CheckpointFs } from '../durable/fs.js'
import { encodeCheckpointBytes, readCheckpointJson } from '../durable/format.js'
import { IncompatibleCheckpointError } from '../errors.js'
import { checkpointLayout } from './layout.js'

const TasksMetadata = t.type({ id: t.string, tasks: t.number })
/** The shared metadata of the tasks of one checkpoint location. */
export type TasksMetadata = t.TypeOf<typeof TasksMetadata>

/**
 * Reads the tasks' metadata of `location`, or records it (a new id and `tasks`) when the location has none — also
 * for a checkpoint written before the count was stored, which is taken to have `tasks` tasks. Members of a cluster
 * starting at once race to record it: it is created exclusively, so all of them read the one that was written first.
 * @example const { id } = await tasksMetadata(fs, '/ckpt/clicks', 8)
 * @throws IncompatibleCheckpointError when the checkpoint was written with another number of tasks;
 * CheckpointCorruptedError on a damaged file; the file-system error of the read or write.
 */
export async function tasksMetadata(fs: CheckpointFs, location: string, tasks: number): Promise<TasksMetadata> {
  const path = join(checkpointLayout(location).tasksRoot, 'metadata')
  if (!(await fs.exists(path))) {
    const recorded = { id: randomUUID(), tasks }
    if (await fs.createExclusive(path, encodeCheckpointBytes(JSON.stringify(recorded)))) return recorded
  }
  const stored = await readCheckpointJson(fs, path, TasksMetadata)
  if (stored.tasks !== tasks) {
    throw new IncompatibleCheckpointError(location, [
      `the checkpoint was written by ${stored.tasks} tasks, but the source now has ${tasks} partitions: each task ` +
        `owns the keyed state of its partition, so ${tasks} tasks would split the keys differently from the state. ` +
        `Read a source with ${stored.tasks} partitions as before, or start on a new checkpoint location (the ` +
        'state starts over)',
    ])
  }
  return stored
}

/**
 * Refuses a checkpoint location written by the other way of running a query: a query read as one source keeps its
 * offsets in `<location>/offsets`, a query run as tasks in `<location>/tasks/<p>/offsets`; starting one over the
 * other's checkpoint would find no position and read everything again.
 * @example await checkRunsAs(fs, '/ckpt/counts', 'tasks')
 * @throws IncompatibleCheckpointError saying which way the checkpoint was written and what to do.
 */
export async function checkRunsAs(fs: CheckpointFs, location: string, runs: 'tasks' | 'one query'): Promise<void> {
  const layout = checkpointLayout(location)
  if (runs === 'tasks' && (await fs.exists(layout.metadata))) {
    throw new IncompatibleCheckpointError(location, [
      'the checkpoint was written by a query that read its source as one (one offset per partition in one log); ' +
        'over a PartitionedSource the query runs as tasks, each with its own checkpoint under tasks/<p>, and would ' +
        'read everything again: read the source as one as before (a connector without partitionedBy), or start on a new checkpoint location',
    ])
  }
  if (runs === 'one query' && (await fs.exists(layout.tasksRoot))) {
    throw new IncompatibleCheckpointError(location, [
      'the checkpoint was written by a query that ran as tasks (tasks/<p>); read as one source the query would ' +
        'read everything again: read it as a PartitionedSource as before, or start on a new checkpoint location',
    ])
  }
}
