/**
 * Two queries run as one child process by the PostgreSQL/S3 crash storm (`postgresS3Storm.test.ts`), which kills it
 * at random moments and restarts it until both drain their input:
 *
 *   node --import tsx test/e2e/postgresS3CrashQuery.ts <inputDir> <checkpointDir> <pgUrl> <s3Endpoint> <bucket> <prefix>
 *
 * Both read `jsonFiles(inputDir)` a few files per batch with `trigger.availableNow()` and write to PostgreSQL:
 * - `counts`: a count per key in update mode into table `counts`, checkpoint on the local disk;
 * - `events`: every row, projected, in append mode into table `events`, checkpoint in the S3 bucket.
 * It prints `started` once both `start()` resolved and exits 0 when both committed everything, 1 on an error.
 */
import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import * as t from 'io-ts'
import { count, createSession, groupBy, jsonFiles, map, postgresSink, s3CheckpointFs, trigger } from '../../src/index.js'
import { InputRow } from './crashQuery.js'
import { runAsChild } from './childMain.js'

/** The events query's projection, shared with the test that computes the expected rows. */
export const projectEvent = (r: InputRow) => ({ id: r.id, key: r.key, v2: r.v * 2 })

async function main(argv: readonly string[]): Promise<void> {
  const [inputDir, checkpointDir, pgUrl, endpoint, bucket, prefix] = argv
  if (!inputDir || !checkpointDir || !pgUrl || !endpoint || !bucket || !prefix) {
    throw new Error('usage: postgresS3CrashQuery.ts <inputDir> <checkpointDir> <pgUrl> <s3Endpoint> <bucket> <prefix>')
  }
  const warn = (m: string) => process.stderr.write(`${m}\n`)
  const source = () => jsonFiles(inputDir, { codec: InputRow, maxFilesPerTrigger: 3 })
  // Small retention settings, so kills also land in snapshots and purges.
  const local = createSession({ shufflePartitions: 3, snapshotInterval: 3, minBatchesToRetain: 4, warn })
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 15_000 },
  })
  const onS3 = createSession({ fs: s3CheckpointFs({ client, bucket, prefix }), minBatchesToRetain: 4, warn })

  const counts = await local
    .readStream(source())
    .pipe(groupBy((r: InputRow) => r.key, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: postgresSink({ connectionString: pgUrl, table: 'counts' }),
      checkpointLocation: join(checkpointDir, 'counts'),
      trigger: trigger.availableNow(),
    })
    .start()
  const events = await onS3
    .readStream(source())
    .pipe(map(projectEvent))
    .writeStream({
      outputMode: 'append',
      sink: postgresSink({ connectionString: pgUrl, table: 'events' }),
      checkpointLocation: 'events',
      trigger: trigger.availableNow(),
    })
    .start()
  process.stdout.write('started\n')
  await Promise.all([counts.awaitTermination(), events.awaitTermination()])
  client.destroy()
}

runAsChild(import.meta.url, main)
