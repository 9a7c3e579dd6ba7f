/**
 * A real S3-compatible server for a test: s3rver on a free loopback port, objects in a temp dir, one bucket created,
 * and a client from @aws-sdk/client-s3 pointed at it (path-style addressing, as local S3 servers need).
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import { freeLoopbackPort } from './ports.js'

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
  const port = await freeLoopbackPort()
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
        // A request to a server stopped mid-test must fail (and be retried), not hang on a dead socket.
        requestHandler: { connectionTimeout: 2_000, requestTimeout: 15_000 },
      }),
    async start() {
      const next = new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
      makePutsAtomic(next)
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

/**
 * S3 never stores part of an upload: an object is replaced whole or not at all. s3rver streams the body straight
 * into the object's file, so a client killed mid-upload (as the crash tests do) leaves a truncated object that real
 * S3 would never show. This makes its puts behave like S3's: the whole body first, then a rename into place.
 */
function makePutsAtomic(server: S3rver): void {
  const store = server.store
  store.putObject = async (object) => {
    const content = Buffer.isBuffer(object.content) ? object.content : await readWhole(object.content)
    const declared = Number(object.metadata['content-length'])
    if (Number.isFinite(declared) && declared !== content.length) {
      throw new Error(`incomplete upload of ${object.key}: ${content.length} of ${declared} bytes`)
    }
    const path = store.getResourcePath(object.bucket, object.key, 'object')
    await mkdir(dirname(path), { recursive: true })
    const temp = `${path}.${randomUUID()}.partial`
    await writeFile(temp, content)
    await rename(temp, path)
    const md5 = createHash('md5').update(content).digest('hex')
    await store.putMetadata(object.bucket, object.key, object.metadata, md5)
    return { size: content.length, md5 }
  }
}

/** The whole body; rejects (or never resolves) when the client goes away before the end. */
async function readWhole(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
}
