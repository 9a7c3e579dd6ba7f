/**
 * A real S3-compatible server for a test: s3rver on a free loopback port, objects in a temp dir, one bucket created,
 * and a client from @aws-sdk/client-s3 pointed at it (path-style addressing, as local S3 servers need).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import { freePort } from './freePort.js'

/** A running s3rver with one bucket. */
export interface S3Server {
  readonly endpoint: string
  readonly bucket: string
  /** A new client for this server (each caller destroys its own). */
  client(): S3Client
  /** Stops serving (open connections are cut); the objects stay. */
  stop(): Promise<void>
  /** Serves the same objects again on the same port. */
  start(): Promise<void>
  /** Stops the server and removes its objects. */
  close(): Promise<void>
}

/**
 * Starts s3rver with the bucket `bucket` (default 'checkpoints').
 * @example
 * const s3 = await startS3()
 * try { const fs = s3CheckpointFs({ client: s3.client(), bucket: s3.bucket }) } finally { await s3.close() }
 * @throws the listen error if the server cannot start.
 */
export async function startS3(bucket = 'checkpoints'): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'srx-s3-'))
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  let instance: S3rver | undefined
  const server: S3Server = {
    endpoint,
    bucket,
    client: () =>
      new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }),
    async start() {
      const next = new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
      await next.run()
      instance = next
    },
    async stop() {
      const current = instance
      instance = undefined
      if (current === undefined) return
      // Clients keep connections alive; cut them, or close() waits for them.
      current.httpServer?.closeAllConnections()
      await current.close()
    },
    async close() {
      await server.stop().catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
  try {
    await server.start()
  } catch (error) {
    await server.close()
    throw error
  }
  return server
}
