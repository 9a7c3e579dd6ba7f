/** The server fixtures start real servers that answer, and stop and restart them. */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
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
})
