/**
 * A {@link CheckpointFs} whose files are objects in an S3 bucket (or any S3-compatible store): checkpoints, state
 * files and source/sink logs live in object storage, as production streaming jobs keep them.
 */
import { posix } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { InvalidQueryError } from '../errors.js'
import { isTransientSocketError, type RetryOptions, retryPolicy, withRetry } from './retry.js'
import { type CheckpointFs, isHiddenName } from './fs.js'

/**
 * What the S3 checkpoint file system needs of its client: an `S3Client` of `@aws-sdk/client-s3` (it sends its commands
 * through it). It is written out here, not imported from the SDK, so an app that never uses S3 type-checks without
 * the SDK's types.
 * @example const client: S3ClientLike = new S3Client({ region: 'eu-west-1' })
 */
export interface S3ClientLike {
  send(command: never, options?: never): Promise<unknown>
}

/**
 * Options of {@link s3CheckpointFs}.
 * @example createSession({ fs: s3CheckpointFs({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'ckpt', prefix: 'prod', retry: { attempts: 5 } }) })
 */
export interface S3CheckpointFsOptions {
  /** A client of @aws-sdk/client-s3; for a local S3-compatible server set `forcePathStyle: true` and its `endpoint`. */
  readonly client: S3ClientLike
  readonly bucket: string
  /** Prepended to every path: the object of path `q1/offsets/3` is `<prefix>/q1/offsets/3`. Default: none. */
  readonly prefix?: string
  /** How an operation is retried while the store fails transiently. Default: 10 attempts, 100 ms doubling to 2 s. */
  readonly retry?: RetryOptions
}

type S3Module = typeof import('@aws-sdk/client-s3')

/**
 * A `CheckpointFs` on S3 that also says where a path lives, so errors name the object.
 * @example
 * const fs = s3CheckpointFs({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'ckpt' })
 * fs.describe('q1/offsets/3') // 's3://ckpt/q1/offsets/3'
 */
export interface S3CheckpointFs extends CheckpointFs {
  /** `s3://<bucket>/<key>` of a path. */
  describe(path: string): string
}

/**
 * A {@link CheckpointFs} on S3: each file is one object, whose key is `prefix` + the path (leading '/' dropped).
 * A put replaces an object atomically, so `writeFileAtomic` is one PutObject; `readdir` lists by prefix;
 * directories are implicit (`mkdirp` does nothing; `remove` deletes an object and every object under it);
 * `renameDurable` (used only by `structured-rx rescale`) is refused with code 'ENOTSUP', S3 having no atomic rename.
 * `appendFileDurable` reads the object and puts it back longer (the logs that append have one writer at a time).
 * `createExclusive` (the checkpoint lock) checks that the object is absent and puts it with `If-None-Match: *`, which
 * AWS S3 and most compatible stores honour, so two starters never both win; a store that ignores the condition
 * (s3rver, older MinIO) leaves only the check, a race window of one round trip. Transient failures (connection
 * refused or reset, 5xx, throttling) are retried with back-off by `retry`; the SDK's own retries come first.
 * Use it as a session's `fs`: `createSession({ fs: s3CheckpointFs({ client, bucket }) })`.
 * @example
 * const client = new S3Client({ region: 'eu-west-1' })
 * const session = createSession({ fs: s3CheckpointFs({ client, bucket: 'analytics', prefix: 'checkpoints' }) })
 * @throws InvalidQueryError when `bucket` is empty or a path climbs out of the prefix ('..'); its methods reject
 * with `code` 'ENOENT' for a missing object, ConnectorUnavailableError after the retries, or the SDK's error.
 */
export function s3CheckpointFs(options: S3CheckpointFsOptions): S3CheckpointFs {
  const { bucket } = options
  // The public type is the SDK's client written out structurally; the client passed is one.
  const client = options.client as S3Client
  if (typeof bucket !== 'string' || bucket.length === 0) throw new InvalidQueryError('s3CheckpointFs: `bucket` must be a bucket name')
  const prefix = normalizePrefix(options.prefix ?? '')
  const policy = retryPolicy(options.retry, 's3CheckpointFs')
  let sdk: Promise<S3Module> | undefined
  const commands = (): Promise<S3Module> => (sdk ??= import('@aws-sdk/client-s3'))

  const keyOf = (path: string): string => {
    const relative = posix.normalize(path.replaceAll('\\', '/')).replace(/^\/+/, '').replace(/\/+$/, '')
    if (relative === '..' || relative.startsWith('../')) throw new InvalidQueryError(`s3CheckpointFs: path ${path} climbs out of the prefix`)
    // '/' normalizes to '' once its slash is dropped: the root, like '.'.
    return relative === '.' || relative === '' ? prefix.replace(/\/$/, '') : prefix + relative
  }
  const describe = (path: string): string => `s3://${bucket}/${keyOf(path)}`
  const attempt = <T>(what: string, path: string, op: (s3: S3Module, key: string) => Promise<T>): Promise<T> =>
    withRetry(`S3 ${what} ${describe(path)}`, policy, isTransientS3Error, async () => op(await commands(), keyOf(path)))
  const missing = (path: string): Error =>
    Object.assign(new Error(`ENOENT: no such object ${describe(path)}`), { code: 'ENOENT', path })

  const head = (path: string) =>
    attempt('head', path, async (s3, key) => {
      try {
        return await client.send(new s3.HeadObjectCommand({ Bucket: bucket, Key: key }))
      } catch (error) {
        if (isNotFound(error)) return undefined
        throw error
      }
    })
  const put = (path: string, data: string | Uint8Array) =>
    attempt('put', path, (s3, key) => client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: data })))
  const readFile = (path: string): Promise<Buffer> =>
    attempt('get', path, async (s3, key) => {
      try {
        const response = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }))
        return Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array())
      } catch (error) {
        if (isNotFound(error)) throw missing(path)
        throw error
      }
    })
  /**
   * Every key under `dir/` (all depths, relative to it), page by page, or only whether there is one. Listing with a
   * '/' delimiter would fetch less, but some S3-compatible stores (s3rver among them) miss common prefixes more than
   * one level deep; checkpoint directories are small once retention has purged them, so the full listing is cheap.
   */
  const keysUnder = (dir: string, firstOnly = false) =>
    attempt('list', dir, async (s3, key) => {
      const keys: string[] = []
      const under = key === '' ? '' : `${key}/`
      let token: string | undefined
      do {
        const page = await client.send(
          new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: under, ContinuationToken: token, MaxKeys: firstOnly ? 1 : undefined }),
        )
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key.slice(under.length))
        token = page.IsTruncated === true && !firstOnly ? page.NextContinuationToken : undefined
      } while (token !== undefined)
      return keys
    })

  return {
    describe,
    readFile,
    async writeFileAtomic(path, data, beforeReplace) {
      // A put replaces the object in one request: the last step before it is the place for beforeReplace.
      if (beforeReplace !== undefined) await beforeReplace()
      await put(path, data)
    },
    async appendFileDurable(path, data) {
      const existing = await readFile(path).catch((error: unknown) => {
        if ((error as { code?: string }).code === 'ENOENT') return Buffer.alloc(0)
        throw error
      })
      await put(path, Buffer.concat([existing, typeof data === 'string' ? Buffer.from(data, 'utf8') : data]))
    },
    async exists(path) {
      if ((await head(path)) !== undefined) return true
      return (await keysUnder(path, true)).length > 0
    },
    async readdir(path) {
      const names = new Set((await keysUnder(path)).map((k) => k.split('/', 1)[0]!))
      return [...names].filter((n) => n !== '' && !isHiddenName(n)).sort()
    },
    async mkdirp() {
      // Object stores have no directories: a key's "parents" exist as soon as it does.
    },
    async remove(path) {
      const keys = [keyOf(path), ...(await keysUnder(path)).map((k) => `${keyOf(path)}/${k}`)]
      // One DeleteObject per key (deleting a missing key succeeds): simple stores reject the batch call's checksum
      // headers, and a checkpoint removes few objects at a time.
      for (const key of keys) {
        await attempt('delete', path, (s3) => client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: key })))
      }
    },
    async renameDurable(from) {
      // S3 has no rename: copying then deleting many objects is not atomic, and the one caller (the rescale
      // protocol) relies on atomic directory swaps. Refuse rather than leave a half-moved state directory.
      throw Object.assign(
        new Error(`s3CheckpointFs cannot rename ${describe(from)}: S3 has no atomic rename; rescale a copy of the checkpoint on a local disk`),
        { code: 'ENOTSUP', path: from },
      )
    },
    async size(path) {
      const found = await head(path)
      if (found === undefined) throw missing(path)
      return found.ContentLength ?? 0
    },
    async createExclusive(path, data) {
      if ((await head(path)) !== undefined) return false
      return await attempt('conditional put', path, async (s3, key) => {
        try {
          await client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: data, IfNoneMatch: '*' }))
          return true
        } catch (error) {
          if (statusOf(error) === 412) return false
          throw error
        }
      })
    },
  }
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '')
  return trimmed === '' ? '' : `${trimmed}/`
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404
}

/** Error names the S3 API uses for failures that go away: throttling, timeouts, a busy or restarting service. */
const TRANSIENT_S3_NAMES = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'ThrottlingException',
  'RequestTimeoutException',
  'TimeoutError',
  'ConditionalRequestConflict',
])

/**
 * Whether an S3 error is worth retrying: a socket error, a 5xx or 429, throttling, a timeout, or a conflicting
 * conditional write still in progress (409).
 * @example isTransientS3Error({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }) // true
 * @throws never.
 */
export function isTransientS3Error(error: unknown): boolean {
  if (isTransientSocketError(error)) return true
  const status = statusOf(error)
  if (status !== undefined && (status >= 500 || status === 429 || status === 409)) return true
  const name = (error as { name?: string } | undefined)?.name
  return name !== undefined && TRANSIENT_S3_NAMES.has(name)
}
