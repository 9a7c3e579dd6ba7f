/**
 * logSource at its edges: bad messages (their dead-letter records, the error without badRecords, the metrics), the
 * offsets it refuses, its rate-limit check, and availableNow.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../support/tempDirs.js'
import { BadMessageError, ConnectorUnavailableError, nodeFs } from '../../src/index.js'
import { type LogEntry, logSource, type LogSourceSpec, type PartitionedLog } from '../../src/sources/logSource.js'

const tempDir = useTempDirs()
const Row = t.type({ id: t.number }, 'Row')
type Row = t.TypeOf<typeof Row>

/** A log whose partitions hold the given entries at positions 1, 2, …; `latest` can be held back per partition. */
function fixedLog(parts: (string | undefined)[][], names = parts.map((_, p) => `s.${p}`)): PartitionedLog & { reads: number } {
  const log = {
    reads: 0,
    partitions: names,
    initialPosition: 0,
    describe: (p: number) => `log ${names[p]}`,
    async latestPosition(p: number) {
      return parts[p]!.length
    },
    async readRange(p: number, after: number | string, end: number | string, max: number): Promise<LogEntry[]> {
      log.reads++
      const out: LogEntry[] = []
      for (let i = (after as number) + 1; i <= (end as number) && out.length < max; i++) {
        const text = parts[p]![i - 1]
        out.push(text === undefined ? { position: i, text: undefined, problem: i === 1 ? 'no field value' : undefined } : { position: i, text })
      }
      return out
    },
    close: async () => undefined,
  }
  return log
}

function spec(log: PartitionedLog, maxPerTrigger?: number): LogSourceSpec {
  return { description: 'Fixed[x]', kind: 'fixed', identity: 'x', connector: 'fixed', maxPerTrigger, maxOptionName: 'maxPerBatch', isTransient: () => false, open: async () => log }
}

const ctx = { fs: nodeFs, logDir: undefined, restarting: false }

describe('logSource bad messages', () => {
  it('writes each partition\'s bad messages as { log, position, codecPath, reason, text } records, and counts them', async () => {
    const dead = await tempDir('dead')
    const log = fixedLog([['{"id":1}', '{"id":"x"}', 'nope'], [undefined, '{"id":2}', undefined]], ['s.0', 's/1'])
    const reader = await logSource<Row>(spec(log), { codec: Row, badRecords: { path: dead } }).open(ctx)
    const end = await reader.latestOffset(reader.initialOffset(), 'all')
    expect(await reader.getBatch(reader.initialOffset(), end)).toEqual([{ id: 1 }, { id: 2 }])
    expect(reader.metrics!()).toEqual({ numBadRecords: 4, numBadRecordsTotal: 4 })
    // The partition name is made safe for a file name.
    expect((await readdir(dead)).sort()).toEqual(['bad-records-s.0-2.jsonl', 'bad-records-s_1-1.jsonl'])
    const records = async (name: string) => (await readFile(join(dead, name), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as unknown)
    const [wrongType, malformed] = await records('bad-records-s.0-2.jsonl')
    expect(wrongType).toEqual({ log: 'log s.0', position: 2, codecPath: '.id', reason: 'expected number, got "x" (codec Row)', text: '{"id":"x"}' })
    expect(malformed).toMatchObject({ log: 'log s.0', position: 3, codecPath: '', text: 'nope' })
    expect((malformed as { reason: string }).reason).toMatch(/^malformed JSON: ./)
    expect(await records('bad-records-s_1-1.jsonl')).toEqual([
      { log: 'log s/1', position: 1, codecPath: '', reason: 'no field value', text: '' },
      { log: 'log s/1', position: 3, codecPath: '', reason: 'no payload', text: '' },
    ])
    // The next batch has no bad messages: this batch's count is 0, the total stays.
    await reader.getBatch(end, end)
    expect(reader.metrics!()).toEqual({ numBadRecords: 0, numBadRecordsTotal: 4 })
  })

  it('keeps a bad message of 1000 characters whole and cuts a longer one to 1000 and an ellipsis', async () => {
    const dead = await tempDir('dead')
    const at = (n: number) => `"${'x'.repeat(n - 2)}"`
    const reader = await logSource<Row>(spec(fixedLog([[at(1000), at(1001)]])), { codec: Row, badRecords: { path: dead } }).open(ctx)
    await reader.getBatch(reader.initialOffset(), await reader.latestOffset(reader.initialOffset(), 'all'))
    const lines = (await readFile(join(dead, 'bad-records-s.0-1.jsonl'), 'utf8')).trim().split('\n')
    expect(lines.map((l) => (JSON.parse(l) as { text: string }).text)).toEqual([at(1000), `${at(1001).slice(0, 1000)}…`])
  })

  it('without badRecords, fails on the first bad message naming the log, position and codec path', async () => {
    const reader = await logSource<Row>(spec(fixedLog([['{"id":1}', '{"id":"x"}']])), { codec: Row }).open(ctx)
    const error = await reader.getBatch(reader.initialOffset(), { 's.0': 2 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadMessageError)
    expect(error).toMatchObject({ codecPath: '.id' })
    expect((error as Error).message).toBe('bad message in log s.0 at 2 (.id): expected number, got "x" (codec Row)')
    const noPayload = await logSource<Row>(spec(fixedLog([[undefined, undefined]])), { codec: Row }).open(ctx)
    await expect(noPayload.getBatch(noPayload.initialOffset(), { 's.0': 2 })).rejects.toThrow(new BadMessageError('log s.0', 1, '', 'no field value'))
    expect(new BadMessageError('log s.0', 1, '', 'no field value').message).toBe('bad message in log s.0 at 1: no field value')
  })
})

describe('logSource offsets and limits', () => {
  it('refuses a maxPerTrigger that is not a positive integer, and takes 1', () => {
    const log = fixedLog([[]])
    for (const bad of [0, 2.5]) {
      expect(() => logSource(spec(log, bad), { codec: Row })).toThrow(new RangeError(`Fixed[x]: maxPerBatch must be a positive integer, got ${bad}`))
    }
    expect(() => logSource(spec(log, 1), { codec: Row })).not.toThrow()
  })

  it('refuses an offset that is not an object of positions, naming the source', async () => {
    const reader = await logSource<Row>(spec(fixedLog([['{"id":1}']])), { codec: Row }).open(ctx)
    for (const bad of [null, 3, [1]]) {
      await expect(reader.getBatch(bad as never, { 's.0': 1 })).rejects.toThrow(
        new TypeError(`Fixed[x]: offset must map partitions to positions, got ${JSON.stringify(bad)}`),
      )
    }
    await expect(reader.getBatch({ 's.0': '1' }, { 's.0': 1 })).rejects.toThrow(new TypeError('Fixed[x]: offset of partition s.0 must be a number, got "1"'))
  })

  it('reads a partition the offset does not name from its start', async () => {
    const reader = await logSource<Row>(spec(fixedLog([['{"id":1}'], ['{"id":2}']])), { codec: Row }).open(ctx)
    expect(reader.initialOffset()).toEqual({ 's.0': 0, 's.1': 0 })
    expect(await reader.getBatch({ 's.0': 1 }, { 's.0': 1, 's.1': 1 })).toEqual([{ id: 2 }])
  })

  it('a batch whose start and end agree reads nothing from the log', async () => {
    const log = fixedLog([['{"id":1}'], ['{"id":2}']])
    const reader = await logSource<Row>(spec(log), { codec: Row }).open(ctx)
    expect(await reader.getBatch({ 's.0': 1, 's.1': 0 }, { 's.0': 1, 's.1': 1 })).toEqual([{ id: 2 }])
    expect(log.reads).toBe(1)
  })

  it('availableNow fixes every partition\'s end at what it held when prepared', async () => {
    const parts = [['{"id":1}'], ['{"id":2}']]
    const reader = await logSource<Row>(spec(fixedLog(parts)), { codec: Row }).open(ctx)
    await reader.prepareForTriggerAvailableNow!()
    parts[0]!.push('{"id":3}')
    expect(await reader.latestOffset(reader.initialOffset(), 'all')).toEqual({ 's.0': 1, 's.1': 1 })
    expect(await reader.latestOffset(reader.initialOffset(), 'default')).toEqual({ 's.0': 1, 's.1': 1 })
  })
})

describe('logSource connection', () => {
  /** A log whose latest positions fail with `latestErrors` first, and its reads with `readErrors`, then answer. */
  function flakyLog(latestErrors: Error[], readErrors: Error[] = []): PartitionedLog & { calls: number; closed: number } {
    const inner = fixedLog([['{"id":1}', '{"id":2}']])
    const log = {
      ...inner,
      calls: 0,
      closed: 0,
      async latestPosition(p: number, after: number | string) {
        log.calls++
        const e = latestErrors.shift()
        if (e !== undefined) throw e
        return inner.latestPosition(p, after)
      },
      async readRange(p: number, after: number | string, end: number | string, max: number) {
        log.calls++
        const e = readErrors.shift()
        if (e !== undefined) throw e
        return inner.readRange(p, after, end, max)
      },
      close: async () => void log.closed++,
    }
    return log
  }
  const blip = () => Object.assign(new Error('blip'), { code: 'ECONNRESET' })
  const transientSpec = (log: PartitionedLog, maxPerTrigger?: number): LogSourceSpec => ({
    ...spec(log, maxPerTrigger),
    isTransient: (e) => (e as { code?: string }).code === 'ECONNRESET',
  })
  const quick = { attempts: 3, initialDelayMs: 0, maxDelayMs: 0 }

  it('retries transient failures of the broker under its retry policy, latest positions and reads alike', async () => {
    const log = flakyLog([blip(), blip()], [blip(), blip()])
    const reader = await logSource<Row>(transientSpec(log), { codec: Row, retry: quick }).open(ctx)
    const end = await reader.latestOffset(reader.initialOffset(), 'default')
    expect(end).toEqual({ 's.0': 2 })
    expect(await reader.getBatch(reader.initialOffset(), end)).toEqual([{ id: 1 }, { id: 2 }])
    expect(log.calls).toBe(6)
  })

  it('gives up after the last attempt naming the connector, and fails at once on an error that is not transient', async () => {
    const reader = await logSource<Row>(transientSpec(flakyLog([blip(), blip(), blip()])), { codec: Row, retry: quick }).open(ctx)
    const error = await reader.latestOffset(reader.initialOffset(), 'default').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectorUnavailableError)
    expect((error as Error).message).toBe('fixed is unreachable after 3 attempts: blip')
    const refusing = flakyLog([], [new Error('not allowed')])
    const refused = await logSource<Row>(transientSpec(refusing, 1), { codec: Row, retry: quick }).open(ctx)
    await expect(refused.getBatch(refused.initialOffset(), { 's.0': 1 })).rejects.toThrow(new Error('not allowed'))
    expect(refusing.calls).toBe(1)
  })

  it('names the source in a bad retry policy, and closes the log on stop', async () => {
    expect(() => logSource(spec(fixedLog([[]])), { codec: Row, retry: { attempts: 0 } })).toThrow(
      new RangeError('Fixed[x]: retry.attempts must be a positive integer, got 0'),
    )
    const log = flakyLog([])
    const source = logSource<Row>(spec(log), { codec: Row })
    expect([source.description, source.kind, source.identity]).toEqual(['Fixed[x]', 'fixed', 'x'])
    const reader = await source.open(ctx)
    await reader.stop()
    expect(log.closed).toBe(1)
  })
})
