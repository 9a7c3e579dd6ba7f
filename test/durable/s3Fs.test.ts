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
