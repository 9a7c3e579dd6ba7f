import type { ServerResponse } from 'node:http'

/** What a slow event-stream client may have unsent before it is disconnected (bytes). */
const MAX_BUFFERED_BYTES = 1 << 20
const HEARTBEAT_MS = 15_000
/** Events are sent in one write per client at most this often: a dashboard needs no finer grain, a batch loop gains. */
const FLUSH_MS = 100

/**
 * The open server-sent-event streams of one monitoring server. `broadcast` only queues the event; every 100 ms the
 * queued events are encoded once and written to every client in one write, without waiting: a client whose unsent
 * bytes pass 1 MiB is disconnected rather than buffered without bound, so a stuck browser never holds memory or a
 * query. A comment line every 15 s keeps proxies from timing out.
 * @example const events = new EventStreams(16); events.open(res); events.broadcast('progress', progress)
 */
export class EventStreams {
  private readonly clients = new Set<ServerResponse>()
  private readonly heartbeat: NodeJS.Timeout
  private pending: { type: string; data: unknown }[] = []
  private flushing: NodeJS.Timeout | undefined

  constructor(private readonly maxClients: number) {
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  get size(): number {
    return this.clients.size
  }

  /** Turns `res` into an event stream; false (and nothing written) when the cap on clients is reached. */
  open(res: ServerResponse): boolean {
    if (this.clients.size >= this.maxClients) return false
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write(': connected\n\n')
    this.clients.add(res)
    res.on('close', () => this.clients.delete(res))
    return true
  }

  /** Queues an event (immutable data, encoded when sent) for every client. */
  broadcast(type: string, data: unknown): void {
    if (this.clients.size === 0) return
    this.pending.push({ type, data })
    if (this.flushing === undefined) {
      this.flushing = setTimeout(() => {
        this.flushing = undefined
        const frames = this.pending.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`).join('')
        this.pending = []
        this.write(frames)
      }, FLUSH_MS)
      this.flushing.unref()
    }
  }

  /** Ends every open stream. */
  close(): void {
    clearInterval(this.heartbeat)
    clearTimeout(this.flushing)
    for (const res of this.clients) res.end()
    this.clients.clear()
  }

  private write(frame: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(res)
        res.destroy()
      } else {
        res.write(frame)
      }
    }
  }
}
