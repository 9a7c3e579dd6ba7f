/**
 * s3CheckpointFs against a real S3-compatible server (s3rver) started for this file: the CheckpointFs contract on
 * objects, retries of transient failures, and queries whose whole checkpoint lives in the bucket.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { describe, expect, it } from 'vitest'
import { ConnectorUnavailableError, s3CheckpointFs } from '../../src/index.js'
import { rejectionOf } from '../checkpoint/tempDir.js'
import { useServer } from '../support/servers/managed.js'
import { startS3 } from '../support/servers/s3.js'

let run = 0
/** A fresh prefix per test, so tests share the server but not their objects. */
const fresh = () => s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix: `t${run++}` })

const s3 = useServer(startS3, { client: (s) => s.client(), closeClient: (c) => c.destroy(), timeoutMs: 30_000 })

describe('s3CheckpointFs', () => {
  it('reads back what it wrote, under the prefix, and replaces an object whole', async () => {
    const fs = fresh()
    await fs.writeFileAtomic('/q/offsets/0', 'first')
    await fs.writeFileAtomic('/q/offsets/0', 'second')
    expect((await fs.readFile('/q/offsets/0')).toString()).toBe('second')
    expect(await fs.size('/q/offsets/0')).toBe(6)
    expect(fs.describe('/q/offsets/0')).toBe(`s3://${s3.server.bucket}/t${run - 1}/q/offsets/0`)
  })

  it('rejects a read of a missing object with ENOENT naming the object', async () => {
    const fs = fresh()
    const error = await rejectionOf(fs.readFile('q/nothing'))
    expect(error).toMatchObject({ code: 'ENOENT' })
    expect((error as Error).message).toContain(`s3://${s3.server.bucket}/`)
    expect(await rejectionOf(fs.size('q/nothing'))).toMatchObject({ code: 'ENOENT' })
  })

  it('lists a directory as the sorted names of its objects and sub-directories, hiding dot names', async () => {
    const fs = fresh()
    for (const path of ['q/offsets/10', 'q/offsets/2', 'q/offsets/.2.tmp', 'q/state/agg/0/1.delta', 'q/metadata']) {
      await fs.writeFileAtomic(path, 'x')
    }
    expect(await fs.readdir('q')).toEqual(['metadata', 'offsets', 'state'])
    expect(await fs.readdir('q/offsets')).toEqual(['10', '2'])
    expect(await fs.readdir('q/missing')).toEqual([])
    expect(await fs.exists('q/state')).toBe(true)
    expect(await fs.exists('q/metadata')).toBe(true)
    expect(await fs.exists('q/nope')).toBe(false)
  })

  it('removes an object and everything under it', async () => {
    const fs = fresh()
    await fs.writeFileAtomic('q/state/a/0/1.delta', 'x')
    await fs.writeFileAtomic('q/state/a/1/1.delta', 'x')
    await fs.writeFileAtomic('q/statement', 'kept: a sibling whose name starts the same')
    await fs.remove('q/state')
    expect(await fs.exists('q/state')).toBe(false)
    expect(await fs.readdir('q')).toEqual(['statement'])
    await fs.remove('q/never-there')
  })

  it('appends to an object, creating it first', async () => {
    const fs = fresh()
    await fs.appendFileDurable('q/sources/0/segment-0', 'a\n')
    await fs.appendFileDurable('q/sources/0/segment-0', 'b\n')
    expect((await fs.readFile('q/sources/0/segment-0')).toString()).toBe('a\nb\n')
  })

  it('creates an object exclusively only when it is absent', async () => {
    const fs = fresh()
    expect(await fs.createExclusive('q/lock', 'mine')).toBe(true)
    expect(await fs.createExclusive('q/lock', 'theirs')).toBe(false)
    expect((await fs.readFile('q/lock')).toString()).toBe('mine')
  })

  it('refuses a path that climbs out of its prefix', () => {
    expect(() => fresh().describe('../other/q')).toThrow(/climbs out of the prefix/)
  })
})

/**
 * The real client with a fault injected: commands `fails` picks are rejected with what it returns (as the SDK would
 * reject a failed request), every other one goes to s3rver. s3rver never answers a conditional put with 403 or 503,
 * nor a HeadObject with anything but 200 or 404.
 */
function failing(fails: (command: { constructor: { name: string }; input: Record<string, unknown> }) => unknown): typeof s3.client {
  const inner = s3.client
  const client = Object.create(inner) as typeof s3.client
  client.send = ((command: Parameters<typeof inner.send>[0]) => {
    const error = fails(command as never)
    return error === undefined ? inner.send(command) : Promise.reject(error)
  }) as typeof inner.send
  return client
}

const s3Error = (name: string, httpStatusCode: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode } })
const quick = { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 }

describe('s3CheckpointFs when S3 refuses', () => {
  it('rejects a conditional put refused with 403 with that error, not answering "exists", and creates nothing', async () => {
    const denied = s3Error('AccessDenied', 403)
    const prefix = `t${run++}`
    const fs = s3CheckpointFs({
      client: failing((c) => (c.constructor.name === 'PutObjectCommand' && c.input.IfNoneMatch === '*' ? denied : undefined)),
      bucket: s3.server.bucket,
      prefix,
      retry: quick,
    })
    expect(await rejectionOf(fs.createExclusive('q/lock', 'mine'))).toBe(denied)
    expect(await fs.exists('q/lock')).toBe(false)
  })

  it('retries a conditional put that failed with 503, then answers false once another holds the object (412)', async () => {
    let puts = 0
    const busy = s3Error('ServiceUnavailable', 503)
    const taken = s3Error('PreconditionFailed', 412)
    const fs = s3CheckpointFs({
      client: failing((c) => (c.constructor.name === 'PutObjectCommand' && c.input.IfNoneMatch === '*' ? (++puts === 1 ? busy : taken) : undefined)),
      bucket: s3.server.bucket,
      prefix: `t${run++}`,
      retry: quick,
    })
    expect(await fs.createExclusive('q/lock', 'mine')).toBe(false)
    expect(puts).toBe(2)
  })

  it('fails with ConnectorUnavailableError when the conditional put stays unavailable', async () => {
    const fs = s3CheckpointFs({
      client: failing((c) => (c.constructor.name === 'PutObjectCommand' ? s3Error('ServiceUnavailable', 503) : undefined)),
      bucket: s3.server.bucket,
      prefix: `t${run++}`,
      retry: quick,
    })
    const error = await rejectionOf(fs.createExclusive('q/lock', 'mine'))
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect((error as Error).message).toContain(`S3 conditional put s3://${s3.server.bucket}/t${run - 1}/q/lock is unreachable after 2 attempts`)
  })

  it('rejects size, exists and createExclusive when HeadObject fails with 403, never reporting the object missing', async () => {
    const denied = s3Error('Forbidden', 403)
    const prefix = `t${run++}`
    await fresh().writeFileAtomic('unused', 'x')
    const fs = s3CheckpointFs({
      client: failing((c) => (c.constructor.name === 'HeadObjectCommand' ? denied : undefined)),
      bucket: s3.server.bucket,
      prefix,
      retry: quick,
    })
    await fs.writeFileAtomic('q/metadata', 'm')
    expect(await rejectionOf(fs.size('q/metadata'))).toBe(denied)
    expect(await rejectionOf(fs.exists('q/nothing'))).toBe(denied)
    expect(await rejectionOf(fs.createExclusive('q/lock', 'mine'))).toBe(denied)
  })

  it('reports an object missing when HeadObject fails with 404 under any name, or with the name NotFound', async () => {
    for (const error of [s3Error('UnknownError', 404), Object.assign(new Error('NotFound'), { name: 'NotFound' })]) {
      const fs = s3CheckpointFs({
        client: failing((c) => (c.constructor.name === 'HeadObjectCommand' ? error : undefined)),
        bucket: s3.server.bucket,
        prefix: `t${run++}`,
        retry: quick,
      })
      expect(await rejectionOf(fs.size('q/metadata'))).toMatchObject({ code: 'ENOENT' })
    }
  })

  it('rejects with the very value a client rejects with, even undefined, rather than a TypeError of its own', async () => {
    const inner = s3.client
    const client = Object.create(inner) as typeof inner
    client.send = (() => Promise.reject(undefined)) as typeof inner.send
    const fs = s3CheckpointFs({ client, bucket: s3.server.bucket, prefix: `t${run++}`, retry: quick })
    for (const call of [() => fs.size('q/x'), () => fs.readFile('q/x'), () => fs.createExclusive('q/x', 'y')]) {
      let rejected: { value: unknown } | undefined
      await call().catch((value: unknown) => (rejected = { value }))
      expect(rejected).toEqual({ value: undefined })
    }
  })

  it('lists and finds the root of its prefix whether it is named "/", "." or ""', async () => {
    const fs = s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix: `/t${run++}/` })
    await fs.writeFileAtomic('q/metadata', 'm')
    for (const root of ['/', '.', '']) {
      expect(await fs.readdir(root), root).toEqual(['q'])
      expect(await fs.exists(root), root).toBe(true)
    }
  })

  it('describes the root of its prefix as s3://bucket/prefix, and the root of no prefix as s3://bucket/', () => {
    const fs = s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket, prefix: '/checkpoints/prod/' })
    expect(fs.describe('/')).toBe(`s3://${s3.server.bucket}/checkpoints/prod`)
    expect(fs.describe('.')).toBe(`s3://${s3.server.bucket}/checkpoints/prod`)
    expect(fs.describe('q/')).toBe(`s3://${s3.server.bucket}/checkpoints/prod/q`)
    expect(s3CheckpointFs({ client: s3.client, bucket: s3.server.bucket }).describe('/')).toBe(`s3://${s3.server.bucket}/`)
  })

  it('refuses an empty bucket name, and a rename, naming the object and the reason', async () => {
    expect(() => s3CheckpointFs({ client: s3.client, bucket: '' })).toThrow('s3CheckpointFs: `bucket` must be a bucket name')
    const fs = fresh()
    const error = await rejectionOf(fs.renameDurable('q/state/a', 'q/state/b'))
    expect(error).toMatchObject({ code: 'ENOTSUP', path: 'q/state/a' })
    expect((error as Error).message).toBe(
      `s3CheckpointFs cannot rename s3://${s3.server.bucket}/t${run - 1}/q/state/a: S3 has no atomic rename; rescale a copy of the checkpoint on a local disk`,
    )
  })
})
