/** The two queries of the demo, and the code it shows for them. */
import * as t from 'io-ts'
import type { Session } from '../session.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import { trigger } from '../exec/trigger.js'
import { count } from '../operators/count.js'
import { filter } from '../operators/filter.js'
import { groupBy } from '../operators/groupBy.js'
import { withWatermark } from '../operators/withWatermark.js'
import { jsonFilesSink } from '../sinks/jsonFilesSink.js'
import { memorySink } from '../sinks/memorySink.js'
import { jsonFiles } from '../sources/jsonFiles.js'
import { Activity } from './activityData.js'

/** The queries' names: their state directories, dashboard rows and `session.table` names. */
export const QUERY_NAMES = { counts: 'activity_counts', windows: 'user_windows' } as const

/** A row of the activity count. */
export type CountRow = { key: string; count: number }

/** The queries as the demo prints them: the code below, as a user would write it. */
export const DEMO_QUERIES_TEXT = `  const activity = jsonFiles(data, { codec: Activity, maxFilesPerTrigger: 10 })

  session.readStream(activity)
    .pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count())
    .writeStream({ outputMode: 'complete', queryName: '${QUERY_NAMES.counts}', sink: memorySink(),
                   checkpointLocation, trigger: trigger.processingTime('1 second') })

  session.readStream(activity)
    .pipe(withWatermark((r) => r.Arrival_Time, '2 seconds'),
          groupBy((r) => r.User, t.string, { window: { time: (r) => r.Arrival_Time, size: '10 seconds' } }),
          count())
    .writeStream({ outputMode: 'append', queryName: '${QUERY_NAMES.windows}', sink: jsonFilesSink(output),
                   checkpointLocation, trigger: trigger.processingTime('1 second') })
`

/**
 * Starts both demo queries on their checkpoints (resuming them when the checkpoints exist).
 * @example const { counts, windows } = await startDemoQueries(session, paths)
 * @throws what `start()` throws: a checkpoint that cannot be used, a data directory that does not exist.
 */
export async function startDemoQueries(
  session: Session,
  paths: { data: string; countsCheckpoint: string; windowsCheckpoint: string; windowsOutput: string },
): Promise<{ counts: StreamingQuery; windows: StreamingQuery }> {
  const activity = () => jsonFiles(paths.data, { codec: Activity, maxFilesPerTrigger: 10 })
  const counts = await session
    .readStream(activity())
    .pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count())
    .writeStream({
      outputMode: 'complete',
      queryName: QUERY_NAMES.counts,
      sink: memorySink<CountRow>(),
      checkpointLocation: paths.countsCheckpoint,
      trigger: trigger.processingTime('1 second'),
    })
    .start()
  const windows = await session
    .readStream(activity())
    .pipe(
      withWatermark((r) => r.Arrival_Time, '2 seconds'),
      groupBy((r) => r.User, t.string, { window: { time: (r) => r.Arrival_Time, size: '10 seconds' } }),
      count(),
    )
    .writeStream({
      outputMode: 'append',
      queryName: QUERY_NAMES.windows,
      sink: jsonFilesSink(paths.windowsOutput),
      checkpointLocation: paths.windowsCheckpoint,
      trigger: trigger.processingTime('1 second'),
    })
    .start()
    .catch(async (e: unknown) => {
      await counts.stop()
      throw e
    })
  return { counts, windows }
}
