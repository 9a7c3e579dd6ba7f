import { join } from 'node:path'
import type { Observable, Subscription } from 'rxjs'
import type { CheckpointFs } from '../durable/fs.js'
import { BadRecordError, CheckpointCorruptedError } from '../errors.js'
import type { Codec } from '../plan/nodes.js'
import type * as t from 'io-ts'
import { decodeRow } from './decodeRow.js'
import type { Offset, Source, SourceReader } from './source.js'

const SEGMENT_EVENTS = 10_000

/**
 * Makes a live RxJS Observable durable: every event is validated by `codec` and appended (fsync'd) to a write-ahead
 * log in the directory `log` before the query can read it, so events survive a crash of the application. Offsets
 * are event counts in the log; the log is split into segments, and segments the query has committed are deleted.
 * Events are only as durable as the log: an event emitted but not yet flushed when the process dies is lost, as
 * with any producer that did not get an acknowledgement.
 * @example session.readStream(fromObservable(clicks$, { codec: Click, log: '/var/lib/app/clicks-wal' }))
 * An event failing its codec fails the query with BadRecordError naming the log file and line.
 */
export function fromObservable<T>(events$: Observable<T>, options: { codec: Codec<T>; log: string }): Source<T> {
  const { log } = options
  return {
    description: `ObservableSource[${log}]`,
    kind: 'observable',
    identity: log,
    async open(ctx): Promise<SourceReader<T>> {
      const wal = new EventLog<T>(ctx.fs, log, options.codec)
      await wal.recover()
      const listeners = new Set<() => void>()
      let failure: unknown
      let availableNowEnd: number | undefined
      const subscription: Subscription = events$.subscribe({
        next: (event) => {
          wal.append(event).then(
            () => listeners.forEach((l) => l()),
            (e: unknown) => (failure ??= e),
          )
        },
        error: (e: unknown) => (failure ??= e),
      })
      return {
        initialOffset: () => 0,
        async latestOffset(start) {
          if (failure !== undefined) throw failure
          return Math.max(availableNowEnd ?? wal.durableCount, asCount(start))
        },
        getBatch: (start, end) => wal.read(asCount(start), asCount(end)),
        commit: (end) => wal.truncateBefore(asCount(end)),
        async prepareForTriggerAvailableNow() {
          await wal.flushed()
          availableNowEnd = wal.durableCount
        },
        onDataAvailable(listener) {
          listeners.add(listener)
          return () => listeners.delete(listener)
        },
        async stop() {
          subscription.unsubscribe()
          await wal.flushed()
        },
      }
    },
  }
}

/**
 * The event write-ahead log: segment files `<first event index>.jsonl`. Appends arriving while a write is in flight
 * are grouped into the next write (one fsync for many events).
 */
class EventLog<T> {
  durableCount = 0
  private segments: number[] = []
  private pending: string[] = []
  private writing: Promise<void> = Promise.resolve()
  private readonly cache = new Map<number, T>()

  constructor(
    private readonly fs: CheckpointFs,
    private readonly dir: string,
    private readonly codec: Codec<T>,
  ) {}

  /** Finds the segments, counts durable events, and drops a torn last line left by a crash mid-append. */
  async recover(): Promise<void> {
    this.segments = (await this.fs.readdir(this.dir))
      .filter((n) => /^\d{20}\.jsonl$/.test(n))
      .map((n) => Number.parseInt(n, 10))
      .sort((a, b) => a - b)
    const last = this.segments[this.segments.length - 1]
    if (last === undefined) return
    const text = (
      await this.fs.readFile(this.segmentPath(last)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return Buffer.alloc(0)
        throw e
      })
    ).toString('utf8')
    const complete = text.lastIndexOf('\n') + 1
    const lines = text.slice(0, complete).split('\n').filter((l) => l.length > 0)
    if (complete < text.length) {
      // A torn tail is an event that was never acknowledged as durable: rewrite the segment without it.
      await this.fs.writeFileAtomic(this.segmentPath(last), text.slice(0, complete))
    }
    this.durableCount = last + lines.length
  }

  append(event: T): Promise<void> {
    const r = decodeRow(this.codec as t.Mixed, event)
    if (!r.ok) {
      return Promise.reject(
        new BadRecordError(`observable event #${this.durableCount + this.pending.length}`, 0, r.codecPath, r.reason),
      )
    }
    this.pending.push(JSON.stringify(this.codec.encode(event)))
    this.writing = this.writing.then(() => this.flush())
    return this.writing
  }

  flushed(): Promise<void> {
    return this.writing
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const segment = this.currentSegment()
      const room = segment + SEGMENT_EVENTS - this.durableCount
      const batch = this.pending.splice(0, room)
      await this.fs.appendFileDurable(this.segmentPath(segment), batch.join('\n') + '\n')
      if (this.segments[this.segments.length - 1] !== segment) this.segments.push(segment)
      batch.forEach((line, i) => this.cache.set(this.durableCount + i, JSON.parse(line) as T))
      this.durableCount += batch.length
    }
  }

  private currentSegment(): number {
    const last = this.segments[this.segments.length - 1]
    return last !== undefined && this.durableCount < last + SEGMENT_EVENTS ? last : this.durableCount
  }

  private segmentPath(first: number): string {
    return join(this.dir, `${String(first).padStart(20, '0')}.jsonl`)
  }

  /** Events `[start, end)`, from memory when this process logged them, else from the segment files. */
  async read(start: number, end: number): Promise<T[]> {
    const out: T[] = []
    for (let i = start; i < end && this.cache.has(i); i++) out.push(this.decode(this.cache.get(i)!, i))
    if (out.length === end - start) return out
    for (const seg of this.segments) {
      if (seg + SEGMENT_EVENTS <= start + out.length || seg >= end) continue
      const lines = (await this.fs.readFile(this.segmentPath(seg))).toString('utf8').split('\n')
      for (let i = Math.max(seg, start + out.length); i < end && i - seg < lines.length; i++) {
        const line = lines[i - seg]!
        if (line.length === 0) break
        out.push(this.decode(parseLogLine(this.segmentPath(seg), i - seg + 1, line), i))
      }
    }
    // Offsets only ever reach events already durable, so a short read means the log lost some: fail, never drop them.
    if (out.length !== end - start) {
      throw new CheckpointCorruptedError(this.dir, `events ${start} to ${end - 1} were asked for, but the log holds only ${out.length} of them`)
    }
    return out
  }

  private decode(encoded: unknown, index: number): T {
    const r = decodeRow(this.codec as t.Mixed, encoded)
    if (r.ok) return r.value as T
    const seg = [...this.segments].reverse().find((s) => s <= index) ?? 0
    throw new BadRecordError(this.segmentPath(seg), index - seg + 1, r.codecPath, r.reason)
  }

  /** The query committed everything before `end`: delete whole segments below it and forget cached events. */
  async truncateBefore(end: number): Promise<void> {
    for (const i of [...this.cache.keys()]) if (i < end) this.cache.delete(i)
    while (this.segments.length > 1 && this.segments[1]! <= end) {
      await this.fs.remove(this.segmentPath(this.segments.shift()!))
    }
  }
}

/** Parses one line of the log, naming the segment file and line when it is not JSON. */
function parseLogLine(path: string, line: number, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new BadRecordError(path, line, '', `malformed JSON: ${(e as Error).message}`)
  }
}

function asCount(offset: Offset): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new TypeError(`fromObservable: offset must be an event count, got ${JSON.stringify(offset)}`)
  }
  return offset
}
