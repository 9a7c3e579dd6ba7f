/**
 * monitor/ — watching queries in production. It only observes the session (`streams.events$`, the queries'
 * status and progress): Prometheus series (`sessionMetrics`), the HTTP server with its event stream and dashboard
 * (`serveMonitoring`, assets under `dashboard/`), alert rules and their delivery (`alerting`, webhook) and
 * forwarding events to a sink (`forwardProgress`). Nothing below it imports it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Subscription } from 'rxjs'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import type { Session, StreamingQueryEvent } from '../session.js'
import { type Alert, alertsOf } from './alerting.js'
import { type Asset, loadDashboardAssets } from './dashboardAssets.js'
import { EventStreams } from './eventStream.js'
import { type SessionMetrics, sessionMetrics } from './metrics.js'
import { observeEvents, QueryDirectory } from './queryDirectory.js'

/**
 * Options of `serveMonitoring`.
 * @example await serveMonitoring(session, { port: 0, host: '127.0.0.1', token: process.env.MONITOR_TOKEN })
 */
export interface MonitoringOptions {
  /** TCP port (default 4040, as Spark's UI; 0 picks a free one). */
  readonly port?: number
  /** Interface to listen on (default 127.0.0.1: loopback only). */
  readonly host?: string
  /** When set, every request must carry `Authorization: Bearer <token>`, or gets 401. */
  readonly token?: string
  /** Open event streams allowed at once (default 16); more get 503. */
  readonly maxEventClients?: number
  /** The metrics `/metrics` serves (default: the server's own `sessionMetrics`, closed with it). */
  readonly metrics?: SessionMetrics
  /** Terminated queries still listed (default 20). */
  readonly retainTerminated?: number
  /** Where failures go (default console.warn). */
  readonly warn?: (message: string) => void
}

/**
 * A running monitoring server.
 * @example
 * const server = await serveMonitoring(session, { port: 4040 })
 * console.log(`dashboard at ${server.url}`) // http://127.0.0.1:4040/
 * await server.close()
 */
export interface MonitoringServer {
  /** e.g. `http://127.0.0.1:4040/`. */
  readonly url: string
  /** Ends open event streams and stops listening. */
  close(): Promise<void>
}

/**
 * Serves a session's monitoring over HTTP (node:http): `GET /metrics` (Prometheus text), `/api/queries`,
 * `/api/queries/:id/status`, `/api/queries/:id/progress` (recent progress), `/api/alerts` (firing alerts),
 * `/api/events` (server-sent events `started`, `progress`, `idle`, `terminated`, `alert`), `/healthz`, and `/` a
 * live dashboard. Loopback only unless `host` says otherwise; with `token` every request needs it as a bearer token.
 * @example const server = await serveMonitoring(session, { port: 0 }); console.log(server.url); await server.close()
 * @throws RangeError for a bad port or an empty token; the listen error (e.g. EADDRINUSE) when the port is taken.
 */
export async function serveMonitoring(session: Session, options: MonitoringOptions = {}): Promise<MonitoringServer> {
  const port = options.port ?? 4040
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`serveMonitoring: port must be an integer in 0..65535, got ${port}`)
  if (options.token !== undefined && options.token.length === 0) throw new RangeError('serveMonitoring: token must not be empty')
  const warn = options.warn ?? ((m: string) => console.warn(m))
  const assets = await loadDashboardAssets()
  const metrics = options.metrics ?? sessionMetrics(session, { warn })
  const directory = new QueryDirectory(session, options.retainTerminated ?? 20, warn)
  const streams = new EventStreams(options.maxEventClients ?? 16)
  const firing = new Map<string, Alert>()
  const subscriptions: Subscription[] = [
    observeEvents(session, (e) => streams.broadcast(e.type, eventBody(e)), warn),
    alertsOf(session).subscribe((a) => {
      const key = `${a.rule}\u0000${a.queryId}`
      if (a.state === 'firing') firing.set(key, a)
      else firing.delete(key)
      streams.broadcast('alert', a)
    }),
  ]
  const expected = options.token === undefined ? undefined : digest(`Bearer ${options.token}`)
  const routes: Routes = { session, assets, metrics, directory, streams, firing }
  const server = createServer((req, res) => {
    if (expected !== undefined && !timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      res.setHeader('www-authenticate', 'Bearer')
      return sendJson(res, 401, { error: 'unauthorized: send Authorization: Bearer <token>' })
    }
    handle(routes, req, res).catch((e: unknown) => {
      warn(`structured-rx monitoring: ${req.method} ${req.url} failed: ${e instanceof Error ? e.message : String(e)}`)
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
      else res.end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((e: unknown) => {
    closeAll()
    throw e
  })
  function closeAll(): void {
    for (const s of subscriptions) s.unsubscribe()
    streams.close()
    directory.close()
    if (options.metrics === undefined) metrics.close()
  }
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}/`,
    async close() {
      closeAll()
      server.closeIdleConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

interface Routes {
  readonly session: Session
  readonly assets: ReadonlyMap<string, Asset>
  readonly metrics: SessionMetrics
  readonly directory: QueryDirectory
  readonly streams: EventStreams
  readonly firing: ReadonlyMap<string, Alert>
}

async function handle(r: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    return sendJson(res, 405, { error: `method ${req.method} not allowed` })
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  const asset = r.assets.get(path)
  if (asset !== undefined) return send(res, 200, asset.contentType, asset.body)
  if (path === '/metrics') return send(res, 200, r.metrics.registry.contentType, await r.metrics.text())
  if (path === '/healthz') {
    return sendJson(res, 200, { status: 'ok', activeQueries: r.session.streams.active.length, eventClients: r.streams.size })
  }
  if (path === '/api/events') {
    if (!r.streams.open(res)) sendJson(res, 503, { error: 'too many event-stream clients' })
    return
  }
  if (path === '/api/queries') return sendJson(res, 200, r.directory.list().map((q) => summary(q, r.directory)))
  if (path === '/api/alerts') return sendJson(res, 200, [...r.firing.values()])
  const m = /^\/api\/queries\/([^/]+)\/(status|progress)$/.exec(path)
  if (m !== null) {
    const q = r.directory.get(decodeURIComponent(m[1]!))
    if (q === undefined) return sendJson(res, 404, { error: `no query with id ${m[1]}` })
    return sendJson(res, 200, m[2] === 'status' ? { ...q.status, isActive: q.isActive, exception: q.exception?.message ?? null } : q.recentProgress)
  }
  sendJson(res, 404, { error: `not found: ${path}` })
}

/** A query as the list shows it. */
function summary(q: StreamingQuery, directory: QueryDirectory) {
  const started = directory.startedAtMs(q.id)
  return {
    id: q.id,
    runId: q.runId,
    name: q.name ?? null,
    isActive: q.isActive,
    status: q.status,
    startedAt: started === undefined ? null : new Date(started).toISOString(),
    trigger: q.trigger,
    lastBatchId: q.lastProgress?.batchId ?? null,
    lastProgressAt: q.lastProgress?.timestamp ?? null,
    exception: q.exception?.message ?? null,
  }
}

/** An event as the event stream sends it: a progress is sent as its own JSON. */
function eventBody(e: StreamingQueryEvent): unknown {
  return e.type === 'progress' ? e.progress : e
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body))
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}
