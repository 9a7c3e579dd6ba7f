/**
 * The shape every partitioned, replayable log source shares (JetStream subjects, Redis stream keys, and a Kafka
 * topic's partitions would be one more): the offset holds one position per partition, a batch is the range
 * `(start, end]` of every partition, and re-reading a range yields the same entries in the same order.
 */
import { join } from 'node:path'
import type * as t from 'io-ts'
import { BadMessageError } from '../errors.js'
import type { Codec } from '../plan/nodes.js'
import { type RetryOptions, retryPolicy, withRetry } from '../durable/retry.js'
import { decodeRow, type RowFailure } from './decodeRow.js'
import type { Offset, Source, SourceContext, SourceReader } from './source.js'

/** A position in one partition: a JetStream stream sequence, a Redis entry id, a Kafka offset. */
export type LogPosition = number | string

/** One entry read from a partition: its position and its payload text (or why it has none). */
export interface LogEntry {
  readonly position: LogPosition
  readonly text: string | undefined
  /** Set when the entry has no payload to parse (e.g. a Redis entry without the field `value`). */
  readonly problem?: string
}

/** An opened partitioned log: what a connector implements; offsets, limits and decoding are done once, here. */
export interface PartitionedLog {
  /** One name per partition (a subject, a key): the keys of the offset object. */
  readonly partitions: readonly string[]
  /** The position before the first entry of a partition. */
  readonly initialPosition: LogPosition
  /** Names a partition in errors, e.g. `stream ORDERS subject orders.1`. */
  describe(partition: number): string
  /** The position of the last entry of a partition now, or `after` when it holds nothing newer. */
  latestPosition(partition: number, after: LogPosition): Promise<LogPosition>
  /** The entries in `(after, end]`, in order, at most `max` of them. */
  readRange(partition: number, after: LogPosition, end: LogPosition, max: number): Promise<LogEntry[]>
  close(): Promise<void>
}

/**
 * The options every log source takes.
 * @example
 * const common: LogSourceOptions<Event> = { codec: Event, badRecords: { path: '/data/bad' }, retry: { attempts: 5 } }
 * jetStream({ ...common, servers: 'nats://127.0.0.1:4222', stream: 'EVENTS', subject: 'events' })
 */
export interface LogSourceOptions<T> {
  /** io-ts codec every message must satisfy. */
  readonly codec: Codec<T>
  /**
   * Where bad messages go instead of failing the query: a directory that receives, per batch and partition, a
   * JSON-lines file of `{ log, position, codecPath, reason, text }` records. Without it, the first bad message
   * fails the query with BadMessageError.
   */
  readonly badRecords?: { readonly path: string }
  /** How calls to the broker are retried while it is unreachable (default: 10 tries, about 11 s of back-off). */
  readonly retry?: RetryOptions
}

/** What a connector gives `logSource`. */
export interface LogSourceSpec {
  readonly description: string
  readonly kind: string
  readonly identity: string
  /** Who the broker is, for ConnectorUnavailableError (e.g. `nats://127.0.0.1:4222`). */
  readonly connector: string
  /** The rate limit and the option's name, for errors. */
  readonly maxPerTrigger: number | undefined
  readonly maxOptionName: string
  /** Whether a client error is worth retrying (a lost connection), as opposed to a refusal by the broker. */
  isTransient(error: unknown): boolean
  /** Connects; `retrying` runs a call under the source's retry policy. */
  open(ctx: SourceContext, retrying: Retrying): Promise<PartitionedLog>
}

/** Runs a call to the broker under the source's retry policy. */
export type Retrying = <R>(call: () => Promise<R>) => Promise<R>

/** A range read ahead by `latestOffset` and handed to the `getBatch` that asks for the same range. */
interface ReadAhead {
  readonly start: readonly LogPosition[]
  readonly end: readonly LogPosition[]
  readonly entries: readonly LogEntry[][]
}

/**
 * Builds a Source over a partitioned log. With a rate limit the entries are read while choosing the end offset
 * (their positions decide it) and kept for the batch; otherwise the end is each partition's latest position and the
 * batch reads its ranges.
 * @example return logSource({ description: 'JetStream[ORDERS]', kind: 'jetStream', …, open: openJetStreamLog }, options)
 */
export function logSource<T>(spec: LogSourceSpec, options: LogSourceOptions<T>): Source<T> {
  const max = spec.maxPerTrigger
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new RangeError(`${spec.description}: ${spec.maxOptionName} must be a positive integer, got ${max}`)
  }
  const policy = retryPolicy(options.retry, spec.description)
  return {
    description: spec.description,
    kind: spec.kind,
    identity: spec.identity,
    async open(ctx): Promise<SourceReader<T>> {
      const retrying: Retrying = (call) => withRetry(spec.connector, policy, spec.isTransient, call)
      const log = await spec.open(ctx, retrying)
      const names = log.partitions
      let readAhead: ReadAhead | undefined
      let availableNow: LogPosition[] | undefined
      let rotation = 0
      const prefetch = new Prefetch(log, retrying)
      let lastBatchBad = 0
      let totalBad = 0
      const positionsOf = (offset: Offset) => asPositions(offset, names, log.initialPosition, spec.description)
      const offsetOf = (positions: readonly LogPosition[]): Offset => Object.fromEntries(names.map((n, p) => [n, positions[p]!]))
      const latestPositions = (start: readonly LogPosition[]) =>
        Promise.all(start.map((after, p) => retrying(() => log.latestPosition(p, after))))
      return {
        initialOffset: () => offsetOf(names.map(() => log.initialPosition)),
        async latestOffset(startOffset, limit) {
          const start = positionsOf(startOffset)
          const latest = availableNow ?? (await latestPositions(start))
          if (limit === 'all' || max === undefined) return offsetOf(latest)
          // The limit is shared in turn: each partition gets an equal part of what is left, and what a partition
          // does not use passes to the next; the first partition rotates so none waits behind busier ones.
          const entries: LogEntry[][] = names.map(() => [])
          const end = [...start]
          let left = max
          rotation = (rotation + 1) % names.length
          for (let i = 0; i < names.length && left > 0; i++) {
            const p = (i + rotation) % names.length
            if (latest[p] === start[p]) continue
            const quota = Math.max(1, Math.floor(left / (names.length - i)))
            const got = await prefetch.take(p, start[p]!, latest[p]!, quota)
            entries[p] = got
            if (got.length > 0) end[p] = got[got.length - 1]!.position
            left -= got.length
          }
          readAhead = { start, end, entries }
          // The next batch's entries load while this one is processed.
          names.forEach((_, p) => prefetch.start(p, end[p]!, latest[p]!, max))
          return offsetOf(end)
        },
        async getBatch(startOffset, endOffset) {
          const start = positionsOf(startOffset)
          const end = positionsOf(endOffset)
          const ahead = readAhead !== undefined && same(readAhead.start, start) && same(readAhead.end, end) ? readAhead : undefined
          readAhead = undefined
          const parts = await Promise.all(
            names.map((_, p) =>
              ahead !== undefined
                ? ahead.entries[p]!
                : start[p] === end[p]
                  ? []
                  : retrying(() => log.readRange(p, start[p]!, end[p]!, Number.POSITIVE_INFINITY)),
            ),
          )
          const rows: T[] = []
          const bad: BadMessage[][] = parts.map(() => [])
          parts.forEach((entries, p) => decodeEntries(entries, options.codec, log.describe(p), rows, bad[p]!, options.badRecords !== undefined))
          lastBatchBad = bad.reduce((n, b) => n + b.length, 0)
          totalBad += lastBatchBad
          if (options.badRecords !== undefined) {
            for (let p = 0; p < names.length; p++) {
              if (bad[p]!.length > 0) await writeDeadLetters(ctx, options.badRecords.path, names[p]!, bad[p]!)
            }
          }
          return rows
        },
        async commit() {},
        async prepareForTriggerAvailableNow() {
          availableNow = await latestPositions(names.map(() => log.initialPosition))
        },
        metrics: () => ({ numBadRecords: lastBatchBad, numBadRecordsTotal: totalBad }),
        stop: () => log.close(),
      }
    },
  }
}

/**
 * Entries read ahead per partition: after a batch's end offset is chosen, the range after it loads in the
 * background, and the next batch takes from it (reading the rest, if any, itself). A failed read ahead is dropped:
 * the batch then reads for itself and meets the error there.
 */
class Prefetch {
  private readonly buffers = new Map<number, { after: LogPosition; upTo: LogPosition; asked: number; entries: Promise<LogEntry[]> }>()

  constructor(
    private readonly log: PartitionedLog,
    private readonly retrying: Retrying,
  ) {}

  start(p: number, after: LogPosition, upTo: LogPosition, max: number): void {
    if (after === upTo || this.buffers.has(p)) return
    const entries = this.retrying(() => this.log.readRange(p, after, upTo, max))
    entries.catch(() => undefined)
    this.buffers.set(p, { after, upTo, asked: max, entries })
  }

  /** The entries in `(after, upTo]` of partition p, at most `max`: from the buffer when it starts at `after`. */
  async take(p: number, after: LogPosition, upTo: LogPosition, max: number): Promise<LogEntry[]> {
    const buffer = this.buffers.get(p)
    this.buffers.delete(p)
    let entries: LogEntry[] = []
    let complete = false
    if (buffer !== undefined && buffer.after === after) {
      const got = await buffer.entries.catch(() => undefined)
      // A read that returned fewer entries than asked covered its whole range; a failed one covered nothing.
      if (got !== undefined) {
        entries = got
        complete = got.length < buffer.asked && buffer.upTo === upTo
      }
    }
    if (entries.length > max) {
      const taken = entries.slice(0, max)
      const rest = entries.slice(max)
      this.buffers.set(p, { after: taken[max - 1]!.position, upTo: buffer!.upTo, asked: buffer!.asked - max, entries: Promise.resolve(rest) })
      return taken
    }
    if (entries.length === max || complete) return entries
    const from = entries.length > 0 ? entries[entries.length - 1]!.position : after
    const more = await this.retrying(() => this.log.readRange(p, from, upTo, max - entries.length))
    return entries.length === 0 ? more : entries.concat(more)
  }
}

interface BadMessage {
  readonly log: string
  readonly position: LogPosition
  readonly codecPath: string
  readonly reason: string
  readonly text: string
}

function decodeEntries<T>(entries: readonly LogEntry[], codec: Codec<T>, log: string, rows: T[], bad: BadMessage[], tolerate: boolean): void {
  for (const entry of entries) {
    let failure: RowFailure
    if (entry.text === undefined) {
      failure = { codecPath: '', reason: entry.problem ?? 'no payload' }
    } else {
      try {
        const r = decodeRow(codec as t.Mixed, JSON.parse(entry.text))
        if (r.ok) {
          rows.push(r.value as T)
          continue
        }
        failure = r
      } catch (e) {
        failure = { codecPath: '', reason: `malformed JSON: ${(e as Error).message}` }
      }
    }
    if (!tolerate) throw new BadMessageError(log, entry.position, failure.codecPath, failure.reason)
    const text = entry.text ?? ''
    bad.push({ log, position: entry.position, codecPath: failure.codecPath, reason: failure.reason, text: text.length > 1000 ? `${text.slice(0, 1000)}…` : text })
  }
}

/** One file per batch and partition, named by the first bad position, so a re-run batch rewrites its own file. */
async function writeDeadLetters(ctx: SourceContext, dir: string, partition: string, bad: readonly BadMessage[]): Promise<void> {
  const name = `bad-records-${partition}-${String(bad[0]!.position)}.jsonl`.replace(/[^\w.-]/g, '_')
  await ctx.fs.writeFileAtomic(join(dir, name), bad.map((b) => JSON.stringify(b)).join('\n') + '\n')
}

/** The positions of an offset, in partition order; a partition the offset lacks (one added later) starts at the beginning. */
function asPositions(offset: Offset, names: readonly string[], initial: LogPosition, what: string): LogPosition[] {
  if (offset === null || typeof offset !== 'object' || Array.isArray(offset)) {
    throw new TypeError(`${what}: offset must map partitions to positions, got ${JSON.stringify(offset)}`)
  }
  return names.map((name) => {
    const position = offset[name]
    if (position === undefined) return initial
    if (typeof position !== typeof initial) {
      throw new TypeError(`${what}: offset of partition ${name} must be a ${typeof initial}, got ${JSON.stringify(position)}`)
    }
    return position as LogPosition
  })
}

function same(a: readonly LogPosition[], b: readonly LogPosition[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
