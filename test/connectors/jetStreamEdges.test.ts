/**
 * jetStream on a real nats-server, what the main suite leaves open: its names (description, kind, identity, the option
 * in a RangeError), the connection errors (every server named, the cause kept), and the read loop of a range: a range
 * that ends before the subject's last message, one whose end message was deleted (with and without messages after
 * it), an empty range, a range longer than one pull (10 000 messages) with and without maxMessagesPerTrigger, the
 * short-lived consumer removed after a read, and the connection a stopped reader closes.
 */
import { readFile } from 'node:fs/promises'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { ConnectorUnavailableError, isPartitioned, jetStream, nodeFs, type SourceContext } from '../../src/index.js'
import { useServer } from '../support/servers/managed.js'
import { startNats } from '../support/servers/nats.js'
import { freeLoopbackPort } from '../support/servers/ports.js'
import { natsTestClient } from './natsHelpers.js'

const Row = t.type({ id: t.number })
type Row = t.TypeOf<typeof Row>

const ctx: SourceContext = { fs: nodeFs, logDir: undefined, restarting: false }
const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })

let n = 0
/** A fresh single-subject stream holding rows `{ id: seq }` for seq 1..count. */
async function freshStream(count: number): Promise<{ stream: string; subject: string }> {
  const i = ++n
  const stream = `E${i}`
  const subject = `e${i}`
  await nats.client.addStream(stream, [subject])
  for (let from = 1; from <= count; from += 2000) {
    await nats.client.publish(subject, Array.from({ length: Math.min(2000, count - from + 1) }, (_, k) => ({ id: from + k })))
  }
  return { stream, subject }
}
const seqs = (from: number, to: number): Row[] => Array.from({ length: to - from + 1 }, (_, k) => ({ id: from + k }))
const consumersOf = async (stream: string) => (await nats.client.jsm.consumers.list(stream).next()).length

describe('jetStream names', () => {
  const servers = 'nats://127.0.0.1:4999'

  it('describes a subject, P partition subjects and each partition by stream and subject, and is identified by them', () => {
    const one = jetStream({ servers, stream: 'ORD', subject: 'ord', codec: Row })
    expect([one.description, one.kind, one.identity]).toEqual(['JetStream[ORD/ord]', 'jetStream', 'ORD/ord'])
    const whole = jetStream({ servers, stream: 'ORD', subject: 'ord', partitions: 3, codec: Row })
    expect([whole.description, whole.kind, whole.identity]).toEqual(['JetStream[ORD/ord.[0..2]]', 'jetStream', 'ORD/ord.*'])
    const parted = jetStream({ servers, stream: 'ORD', subject: 'ord', partitions: 3, partitionedBy: 'unknown', codec: Row })
    expect(isPartitioned(parted)).toBe(true)
    const part = parted.partition(2)
    expect([part.description, part.kind, part.identity]).toEqual(['JetStream[ORD/ord.2]', 'jetStream', 'ORD/ord.2'])
  })

  it('refuses bad options naming itself and the option', () => {
    expect(() => jetStream({ servers, stream: 'S', subject: 's', partitions: 1.5, codec: Row })).toThrow(
      new RangeError('jetStream: partitions must be a positive integer, got 1.5'),
    )
    expect(() => jetStream({ servers, stream: 'S', subject: 's', partitions: 2, partitionedBy: 'hash' as never, codec: Row })).toThrow(
      new RangeError(`jetStream: partitionedBy must be 'stableKeyHash' or 'unknown', got "hash"`),
    )
    expect(() => jetStream({ servers, stream: 'S', subject: 's', codec: Row, maxMessagesPerTrigger: 0 })).toThrow(
      new RangeError('JetStream[S/s]: maxMessagesPerTrigger must be a positive integer, got 0'),
    )
  })
})

describe('jetStream connection errors', () => {
  it('names every server, comma-separated, when none answers', async () => {
    const servers = [`nats://127.0.0.1:${await freeLoopbackPort()}`, `nats://127.0.0.1:${await freeLoopbackPort()}`]
    const source = jetStream({ servers, stream: 'S', subject: 's', codec: Row, retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10 } })
    const error = await source.open(ctx).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect((error as ConnectorUnavailableError).connector).toBe(`nats-server ${servers[0]},${servers[1]}`)
    expect((error as Error).message.startsWith(`nats-server ${servers[0]},${servers[1]} is unreachable after 1 attempts: `)).toBe(true)
  })

  it('keeps the server answer as the cause when the stream does not exist', async () => {
    const error = await jetStream({ servers: [nats.server.url], stream: 'MISSING', subject: 'missing', codec: Row })
      .open(ctx)
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    const cause = (error as Error).cause
    expect(cause).toBeInstanceOf(Error)
    expect((cause as Error).message).toMatch(/stream not found/i)
    expect((error as Error).message).toBe(`jetStream: stream MISSING is not available on ${nats.server.url}: ${(cause as Error).message}`)
  })
})

describe('jetStream reads a range', () => {
  it('reads exactly (after, end] when messages follow the end, and leaves no consumer behind', async () => {
    const { stream, subject } = await freshStream(12)
    const reader = await jetStream({ servers: nats.server.url, stream, subject, codec: Row }).open(ctx)
    try {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 12 }), async (after, span) => {
          const end = Math.min(12, after + span)
          expect(await reader.getBatch({ [subject]: after }, { [subject]: end })).toEqual(seqs(after + 1, end))
        }),
        { numRuns: 8 },
      )
      await expect.poll(() => consumersOf(stream), { timeout: 3000, interval: 50 }).toBe(0)
    } finally {
      await reader.stop()
    }
  })

  it('reads nothing from a range whose end lies before its start', async () => {
    const { stream, subject } = await freshStream(6)
    const reader = await jetStream({ servers: nats.server.url, stream, subject, codec: Row }).open(ctx)
    try {
      expect(await reader.getBatch({ [subject]: 5 }, { [subject]: 2 })).toEqual([])
    } finally {
      await reader.stop()
    }
  })

  it('reads what is left of a range whose end message was deleted, with or without messages after it', async () => {
    const { stream, subject } = await freshStream(5)
    await nats.client.jsm.streams.deleteMessage(stream, 5)
    const reader = await jetStream({ servers: nats.server.url, stream, subject, codec: Row }).open(ctx)
    try {
      expect(await reader.getBatch({ [subject]: 0 }, { [subject]: 5 })).toEqual(seqs(1, 4))
      expect(await nats.client.publish(subject, [{ id: 6 }, { id: 7 }])).toEqual([6, 7])
      expect(await reader.getBatch({ [subject]: 0 }, { [subject]: 5 })).toEqual(seqs(1, 4))
      expect(await reader.getBatch({ [subject]: 4 }, { [subject]: 5 })).toEqual([])
      expect(await reader.getBatch({ [subject]: 5 }, { [subject]: 7 })).toEqual(seqs(6, 7))
    } finally {
      await reader.stop()
    }
  })

  it('reads a range longer than one pull whole, and cuts it at exactly maxMessagesPerTrigger above the pull', async () => {
    const { stream, subject } = await freshStream(10_005)
    const all = await jetStream({ servers: nats.server.url, stream, subject, codec: Row }).open(ctx)
    try {
      expect(await all.getBatch({ [subject]: 0 }, { [subject]: 10_005 })).toEqual(seqs(1, 10_005))
    } finally {
      await all.stop()
    }
    const limited = await jetStream({ servers: nats.server.url, stream, subject, codec: Row, maxMessagesPerTrigger: 10_001 }).open(ctx)
    try {
      const end = await limited.latestOffset({ [subject]: 0 }, 'default')
      expect(end).toEqual({ [subject]: 10_001 })
      expect((await limited.getBatch({ [subject]: 0 }, end)).length).toBe(10_001)
      const next = await limited.latestOffset(end, 'default')
      expect(next).toEqual({ [subject]: 10_005 })
      expect(await limited.getBatch(end, next)).toEqual(seqs(10_002, 10_005))
    } finally {
      await limited.stop()
    }
  }, 30_000)
})

/** Established TCP connections of this machine to the server's port (Linux). */
async function connectionsTo(port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const lines = (await readFile('/proc/net/tcp', 'utf8')).trim().split('\n').slice(1)
  return lines.map((l) => l.trim().split(/\s+/)).filter((f) => f[2]!.endsWith(`:${hex}`) && f[3] === '01').length
}

describe('jetStream stop', () => {
  it('closes its connection when stopped', async () => {
    const { stream, subject } = await freshStream(2)
    const before = await connectionsTo(nats.server.port)
    const reader = await jetStream({ servers: nats.server.url, stream, subject, codec: Row }).open(ctx)
    expect(await reader.getBatch({ [subject]: 0 }, { [subject]: 2 })).toEqual(seqs(1, 2))
    expect(await connectionsTo(nats.server.port)).toBe(before + 1)
    await reader.stop()
    await expect.poll(() => connectionsTo(nats.server.port), { timeout: 3000, interval: 20 }).toBe(before)
  })
})
