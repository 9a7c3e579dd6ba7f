import type { ServerResponse } from 'node:http'

/** What a slow event-stream client may have unsent before it is disconnected (bytes). */
const MAX_BUFFERED_BYTES = 1 << 20
const HEARTBEAT_MS = 15_000

/**
 * The open server-sent-event streams of one monitoring server. `broadcast` encodes an event once and writes it to
 * every client without waiting: a client whose unsent bytes pass 1 MiB is disconnected rather than buffered without
 * bound, so a stuck browser never holds memory or a query. A comment line every 15 s keeps proxies from timing out.
 * @example const events = new EventStreams(16); events.open(res); events.broadcast('progress', progress)
 */
export class EventStreams {
  private readonly clients = new Set<ServerResponse>()
  private readonly heartbeat: NodeJS.Timeout
  private pending: string[] = []
  private flushing: NodeJS.Immediate | undefined

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

  /** Queues an event for every client; the events of one turn of the event loop go out in one write per client. */
  broadcast(type: string, data: unknown): void {
    if (this.clients.size === 0) return
    this.pending.push(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
    this.flushing ??= setImmediate(() => {
      this.flushing = undefined
      const frames = this.pending.join('')
      this.pending = []
      this.write(frames)
    })
  }

  /** Ends every open stream. */
  close(): void {
    clearInterval(this.heartbeat)
    if (this.flushing !== undefined) clearImmediate(this.flushing)
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
