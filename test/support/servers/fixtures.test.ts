/** The server fixtures start real servers that answer, and stop and restart them. */
import { request } from 'node:http'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { startPostgres } from './postgres.js'
import { startS3 } from './s3.js'

describe('server fixtures', () => {
  it('starts PostgreSQL, which answers a query, and keeps its data across a stop and start', async () => {
    const server = await startPostgres()
    try {
      const client = new pg.Client({ connectionString: server.connectionString })
      await client.connect()
      await client.query('CREATE TABLE t (x int)')
      await client.query('INSERT INTO t VALUES (42)')
      await client.end()
      await server.stop()
      await server.start()
      const again = new pg.Client({ connectionString: server.connectionString })
      await again.connect()
      expect((await again.query('SELECT x FROM t')).rows).toEqual([{ x: 42 }])
      await again.end()
    } finally {
      await server.close()
    }
  }, 60_000)

  it('starts s3rver with a bucket that accepts and lists objects', async () => {
    const server = await startS3('fixture-bucket')
    const client = server.client()
    try {
      await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'a/b', Body: 'hello' }))
      const listed = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: 'a/' }))
      expect(listed.Contents?.map((o) => o.Key)).toEqual(['a/b'])
    } finally {
      client.destroy()
      await server.close()
    }
  }, 30_000)

  it('keeps an object whole when an upload replacing it is cut off, as S3 does', async () => {
    const server = await startS3('fixture-bucket')
    const client = server.client()
    try {
      await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'k', Body: 'complete' }))
      await new Promise<void>((resolve) => {
        const req = request(`${server.endpoint}/${server.bucket}/k`, { method: 'PUT', headers: { 'content-length': '1000' } })
        req.on('error', () => resolve())
        req.write('only the first bytes', () => setTimeout(() => (req.destroy(), resolve()), 100))
      })
      await new Promise((resolve) => setTimeout(resolve, 200))
      const got = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: 'k' }))
      expect(await got.Body?.transformToString()).toBe('complete')
    } finally {
      client.destroy()
      await server.close()
    }
  }, 30_000)
})
