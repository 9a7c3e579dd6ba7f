import { describe, expect, it } from 'vitest'
import { isTransientSocketError, retryPolicy, withRetry } from '../../src/durable/retry.js'
import { isTransientRedisError } from '../../src/durable/redisClient.js'
import { isTransientS3Error } from '../../src/durable/s3Fs.js'
import { isTransientPgError } from '../../src/sinks/postgresSql.js'
import { ConnectorUnavailableError } from '../../src/errors.js'

const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code })
const wrapped = (cause: unknown) => new Error('request failed', { cause })

describe('isTransientSocketError: the one classification every connector starts from', () => {
  it('accepts refused, reset and timed-out sockets by their code', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN']) {
      expect(isTransientSocketError(socketError(code))).toBe(true)
    }
  })

  it('accepts a client error that only says so in its message, and one that wraps the socket error as its cause', () => {
    expect(isTransientSocketError(new Error('socket hang up'))).toBe(true)
    expect(isTransientSocketError(wrapped(wrapped(socketError('ECONNRESET'))))).toBe(true)
  })

  it('refuses errors retrying cannot fix, and values that are not errors', () => {
    expect(isTransientSocketError(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false)
    expect(isTransientSocketError(new Error('relation "counts" does not exist'))).toBe(false)
    expect(isTransientSocketError(undefined)).toBe(false)
    expect(isTransientSocketError('ECONNRESET')).toBe(false)
  })

  it('PostgreSQL, S3 and Redis classify a wrapped socket error as transient through it', () => {
    const error = wrapped(socketError('ECONNREFUSED'))
    expect([isTransientPgError(error), isTransientS3Error(error), isTransientRedisError(error)]).toEqual([true, true, true])
  })
})

describe('withRetry', () => {
  const fast = retryPolicy({ attempts: 3, initialDelayMs: 0, maxDelayMs: 0 }, 'test')

  it('retries transient failures until the call succeeds', async () => {
    let calls = 0
    const result = await withRetry('db', fast, isTransientSocketError, async () => {
      if (++calls < 3) throw socketError('ECONNRESET')
      return 'ok'
    })
    expect([result, calls]).toEqual(['ok', 3])
  })

  it('rethrows a non-transient error at once, as it is', async () => {
    let calls = 0
    const refusal = new Error('permission denied')
    await expect(withRetry('db', fast, isTransientSocketError, async () => {
      calls++
      throw refusal
    })).rejects.toBe(refusal)
    expect(calls).toBe(1)
  })

  it('gives up after the attempts with ConnectorUnavailableError naming the connector, the attempts and the last error', async () => {
    const last = socketError('ECONNREFUSED')
    const error = await withRetry('PostgreSQL sink counts', fast, isTransientSocketError, () => Promise.reject(last)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect(error).toMatchObject({ code: 'SRX_CONNECTOR_UNAVAILABLE', connector: 'PostgreSQL sink counts', attempts: 3, cause: last })
  })

  it('refuses retry options that cannot work, naming the option', () => {
    expect(() => retryPolicy({ attempts: 0 }, 'redisStreamSink')).toThrow('redisStreamSink: retry.attempts must be a positive integer, got 0')
    expect(() => retryPolicy({ initialDelayMs: 10, maxDelayMs: 5 }, 'redisStreamSink')).toThrow(/initialDelayMs <= maxDelayMs/)
  })
})

describe('isTransientS3Error', () => {
  const status = (httpStatusCode: number, name = 'S3ServiceException') => Object.assign(new Error(name), { name, $metadata: { httpStatusCode } })

  it('retries throttling, timeouts and a busy service by their name alone, without a status', () => {
    for (const name of ['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'ThrottlingException', 'RequestTimeoutException', 'TimeoutError', 'ConditionalRequestConflict']) {
      expect(isTransientS3Error({ name }), name).toBe(true)
    }
  })

  it('retries 5xx, 429 and 409 by status, and not 4xx refusals or a 499', () => {
    for (const code of [500, 503, 599, 429, 409]) expect(isTransientS3Error(status(code)), String(code)).toBe(true)
    for (const code of [400, 403, 404, 412, 499]) expect(isTransientS3Error(status(code)), String(code)).toBe(false)
  })

  it('refuses other names, values without a name, and undefined or null', () => {
    expect(isTransientS3Error({ name: 'AccessDenied' })).toBe(false)
    expect(isTransientS3Error({})).toBe(false)
    expect(isTransientS3Error(undefined)).toBe(false)
    expect(isTransientS3Error(null)).toBe(false)
  })
})
