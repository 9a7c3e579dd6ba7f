/**
 * Queries whose whole checkpoint (metadata, offset and commit logs, state, source log, lock) lives in an S3 bucket
 * on a real S3-compatible server: restarts are exact, damage is named by object, transient failures are retried.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import * as t from 'io-ts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  CheckpointCorruptedError,
  ConcurrentQueryError,
  ConnectorUnavailableError,
  count,
  createSession,
  foreachBatch,
  groupBy,
  jsonFiles,
  s3CheckpointFs,
  trigger,
  type S3CheckpointFs,
} from '../../src/index.js'
import { readLockHolder } from '../../src/durable/lock.js'
import { rejectionOf } from '../checkpoint/tempDir.js'
import { useServer } from '../support/servers/managed.js'
import { startS3 } from '../support/servers/s3.js'

const Click = t.type({ user: t.string })
type Click = t.TypeOf<typeof Click>

let inputDir: string
let run = 0
let prefix: string

const s3 = useServer(startS3, { client: (s) => s.client(), closeClient: (c) => c.destroy(), timeoutMs: 30_000 })

beforeEach(async () => {
  prefix = `query-${run++}`
  inputDir = await mkdtemp(join(tmpdir(), 'srx-s3-input-'))
})

afterEach(async () => {
  await rm(inputDir, { recursive: true, force: true })
})

let files = 0
async function addInput(users: string[]): Promise<void> {
  await mkdir(inputDir, { recursive: true })
  await writeFile(join(inputDir, `part-${String(files++).padStart(4, '0')}.json`), users.map((user) => JSON.stringify({ user })).join('\n') + '\n')
}

/** Runs the click count to the end of its input, with its checkpoint under `q` in the bucket; returns the batches. */
async function runCount(fs: S3CheckpointFs): Promise<Map<number, { key: string; count: number }[]>> {
  const batches = new Map<number, { key: string; count: number }[]>()
  const session = createSession({ fs, shufflePartitions: 2, snapshotInterval: 2 })
  const query = await session
    .readStream(jsonFiles(inputDir, { codec: Click, maxFilesPerTrigger: 1 }))
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({
      outputMode: 'update',
      sink: foreachBatch<{ key: string; count: number }>((rows, batchId) => void batches.set(batchId, rows)),
      checkpointLocation: 'q',
      trigger: trigger.availableNow(),
    })
    .start()
  await query.awaitTermination()
  return batches
}

/** The result table of update-mode batches: the last row per key. */
function table(...runs: Map<number, { key: string; count: number }[]>[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const batches of runs) for (const [, rows] of [...batches].sort(([a], [b]) => a - b)) for (const r of rows) out[r.key] = r.count
  return out
}

describe('a query with its checkpoint in S3', () => {
  it('holds the lock object while it runs, so a second query on the same checkpoint is refused', async () => {
    const fs = s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix })
    await addInput(['a'])
    const start = () =>
      createSession({ fs })
        .readStream(jsonFiles(inputDir, { codec: Click }))
        .writeStream({ outputMode: 'append', sink: foreachBatch(() => undefined), checkpointLocation: 'q' })
        .start()
    const first = await start()
    try {
      expect(await readLockHolder(fs, 'q')).toMatchObject({ runId: first.runId, epoch: 1 })
      expect(await rejectionOf(start())).toBeInstanceOf(ConcurrentQueryError)
    } finally {
      await first.stop()
    }
    expect(await readLockHolder(fs, 'q')).toBeUndefined()
  })

  it('restarts exactly where it stopped: state, offsets and source log come back from the bucket', async () => {
    const fs = s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix })
    await addInput(['a', 'b', 'a'])
    await addInput(['c'])
    await addInput(['a'])
    const first = await runCount(fs)
    expect([...first.keys()]).toEqual([0, 1, 2])
    await addInput(['b', 'a'])
    await addInput(['c', 'd'])
    const second = await runCount(fs)
    expect([...second.keys()]).toEqual([3, 4])
    expect(table(first, second)).toEqual({ a: 4, b: 2, c: 2, d: 1 })
    expect(await fs.readdir('q')).toEqual(expect.arrayContaining(['commits', 'metadata', 'offsets', 'sources', 'state']))
    expect(await fs.exists('q/lock')).toBe(false)
  })

  it('refuses to restart from a damaged object, naming its bucket and key', async () => {
    const fs = s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix })
    await addInput(['a', 'b'])
    await runCount(fs)
    const key = `${prefix}/q/metadata`
    const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.server.bucket, Key: key }))
    const bytes = Buffer.from(await got.Body!.transformToByteArray())
    bytes[bytes.length - 2]! ^= 0x01
    await s3.client.send(new PutObjectCommand({ Bucket: s3.server.bucket, Key: key, Body: bytes }))
    const error = await rejectionOf(runCount(fs))
    expect(error).toBeInstanceOf(CheckpointCorruptedError)
    expect((error as Error).message).toContain(`s3://${s3.server.bucket}/${key}`)
    expect((error as Error).message).toMatch(/checksum mismatch/)
  })
})

/** A client whose first `failures` sends fail as a throttled or unreachable S3 would, then pass through. */
function flakyClient(inner: S3Client, failures: number): S3Client & { sends: number } {
  let sends = 0
  const flaky = Object.create(inner) as S3Client & { sends: number }
  Object.defineProperty(flaky, 'sends', { get: () => sends })
  flaky.send = ((command: Parameters<S3Client['send']>[0]) => {
    sends++
    if (sends <= failures) {
      const error = sends % 2 === 0
        ? Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })
        : Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
      return Promise.reject(error)
    }
    return inner.send(command)
  }) as S3Client['send']
  return flaky
}

describe('s3CheckpointFs under transient failures', () => {
  const quick = { attempts: 4, initialDelayMs: 10, maxDelayMs: 50 }

  it('retries throttling and dropped connections until the operation succeeds', async () => {
    const flaky = flakyClient(s3.client, 3)
    const fs = s3CheckpointFs({ client: flaky, bucket: s3.server.bucket, prefix, retry: quick })
    await fs.writeFileAtomic('q/offsets/0', 'v1')
    expect(flaky.sends).toBe(4)
    expect((await fs.readFile('q/offsets/0')).toString()).toBe('v1')
  })

  it('fails with ConnectorUnavailableError naming the object and the last cause once the retries run out', async () => {
    const fs = s3CheckpointFs({ client: flakyClient(s3.client, 100), bucket: s3.server.bucket, prefix, retry: quick })
    const error = await rejectionOf(fs.readFile('q/metadata'))
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect(error).toMatchObject({ attempts: 4 })
    expect((error as Error).message).toContain(`S3 get s3://${s3.server.bucket}/${prefix}/q/metadata is unreachable after 4 attempts`)
  })

  it('rides out the server going away for a moment', async () => {
    const fresh = s3.server.client()
    const fs = s3CheckpointFs({ client: fresh, bucket: s3.server.bucket, prefix, retry: { attempts: 20, initialDelayMs: 50, maxDelayMs: 200 } })
    try {
      await s3.server.stop()
      const write = fs.writeFileAtomic('q/commits/0', 'done')
      await new Promise((resolve) => setTimeout(resolve, 500))
      await s3.server.start()
      await write
      expect((await fs.readFile('q/commits/0')).toString()).toBe('done')
    } finally {
      fresh.destroy()
    }
  })
})
