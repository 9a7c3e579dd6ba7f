/**
 * serveMonitoring route by route: the exact answer and error of each, `/api/alerts` as alerts fire and resolve, the
 * options (`port`, `host`, `token`, `metrics`, `retainTerminated`) and what a failing route sends.
 */
import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import {
  type Alert,
  type AlertRule,
  alerting,
  createSession,
  map,
  type MonitoringServer,
  serveMonitoring,
  type SessionMetrics,
} from '../../src/index.js'
import { startQuery } from '../exec/support.js'
import { cleanupAfterEach, serveClosedBy } from './support.js'

const later = cleanupAfterEach()

const serve = serveClosedBy(later)

async function wordsQuery() {
  const q = await startQuery<string, string>((s) => s.pipe(map((w) => w.toUpperCase())), { outputMode: 'append', queryName: 'words' })
  later(() => q.query.stop())
  return q
}

/** A rule that fires while a batch's row count satisfies `when`. */
function rowsRule(name: string, when: (rows: number) => boolean): AlertRule {
  return {
    name,
    watch: () => ({
      batch: (p) => (when(p.numInputRows) ? { firing: true, message: `${name}: ${p.numInputRows} rows`, details: { batchId: p.batchId } } : { firing: false }),
    }),
  }
}

async function getJson(server: MonitoringServer, path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(new URL(path, server.url), init)
  return { status: res.status, headers: res.headers, body: await res.json() }
}

describe('serveMonitoring options', () => {
  it('refuses a port that is not an integer in 0..65535 with its own message', async () => {
    const session = createSession()
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      await expect(serveMonitoring(session, { port }), String(port)).rejects.toThrow(
        new RangeError(`serveMonitoring: port must be an integer in 0..65535, got ${port}`),
      )
    }
    await expect(serveMonitoring(session, { port: 0, token: '' })).rejects.toThrow(new RangeError('serveMonitoring: token must not be empty'))
  })

  it('takes port 65535 as a port (it listens there, or reports the port taken, never refuses it)', async () => {
    const outcome = await serveMonitoring(createSession(), { port: 65535 }).then(
      async (server) => {
        expect(server.url).toBe('http://127.0.0.1:65535/')
        await server.close()
        return 'listened'
      },
      (e: unknown) => (e instanceof RangeError ? `refused: ${e.message}` : 'taken'),
    )
    expect(['listened', 'taken']).toContain(outcome)
  })

  it('listens on the given host, writing an IPv6 address in brackets', async () => {
    const server = await serve(createSession(), { port: 0, host: '::1' })
    expect(server.url).toMatch(/^http:\/\/\[::1\]:\d+\/$/)
    expect((await getJson(server, 'healthz')).body).toEqual({ status: 'ok', activeQueries: 0, eventClients: 0 })
  })

  it('answers 401 with a JSON error naming the header to send', async () => {
    const server = await serve(createSession(), { port: 0, token: 't0ken' })
    const denied = await getJson(server, 'healthz', { headers: { authorization: 'Bearer t0ke' } })
    expect(denied).toMatchObject({ status: 401, body: { error: 'unauthorized: send Authorization: Bearer <token>' } })
    expect(denied.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect((await getJson(server, 'healthz', { headers: { authorization: 'Bearer t0ken' } })).status).toBe(200)
  })

  it('serves the metrics it is given, reports a route that fails with 500, and leaves given metrics open on close', async () => {
    const warnings: string[] = []
    let closed = 0
    const metrics = {
      registry: { contentType: 'text/plain; version=0.0.4; charset=utf-8' },
      text: () => Promise.reject(new Error('scrape broke')),
      close: () => void closed++,
    } as unknown as SessionMetrics
    const server = await serveMonitoring(createSession(), { port: 0, metrics, warn: (m) => warnings.push(m) })
    const res = await getJson(server, 'metrics?x=1')
    expect(res).toMatchObject({ status: 500, body: { error: 'internal error' } })
    expect(warnings).toEqual(['structured-rx monitoring: GET /metrics?x=1 failed: scrape broke'])
    await server.close()
    expect(closed).toBe(0)
  })

  it('serves the text of given metrics with their content type', async () => {
    const metrics = {
      registry: { contentType: 'text/plain; version=0.0.4; charset=utf-8' },
      text: () => Promise.resolve('my_series 1\n'),
      close: () => {},
    } as unknown as SessionMetrics
    const server = await serve(createSession(), { port: 0, metrics })
    const res = await fetch(new URL('metrics', server.url))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(await res.text()).toBe('my_series 1\n')
  })

  it('with retainTerminated 0, drops a query from the list once it stops', async () => {
    const q = await wordsQuery()
    const server = await serve(q.session, { port: 0, retainTerminated: 0 })
    expect(((await getJson(server, 'api/queries')).body as unknown[]).length).toBe(1)
    await q.query.stop()
    expect((await getJson(server, 'api/queries')).body).toEqual([])
    expect(await getJson(server, `api/queries/${q.query.id}/status`)).toMatchObject({ status: 404, body: { error: `no query with id ${q.query.id}` } })
  })
})

describe('serveMonitoring routes', () => {
  it('answers /healthz with the active queries and open event streams', async () => {
    const q = await wordsQuery()
    const server = await serve(q.session, { port: 0 })
    const health = await getJson(server, 'healthz?probe=1')
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', activeQueries: 1, eventClients: 0 } })
    expect(health.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(health.headers.get('cache-control')).toBe('no-store')
    const controller = new AbortController()
    const events = await fetch(new URL('api/events', server.url), { signal: controller.signal })
    expect(events.status).toBe(200)
    expect((await getJson(server, 'healthz')).body).toEqual({ status: 'ok', activeQueries: 1, eventClients: 1 })
    controller.abort()
  })

  it('lists each query with its run, trigger, start time and last batch', async () => {
    const q = await wordsQuery()
    const before = Date.now()
    const server = await serve(q.session, { port: 0 })
    const after = Date.now()
    const [first] = (await getJson(server, 'api/queries')).body as Record<string, unknown>[]
    expect(first).toEqual({
      id: q.query.id,
      runId: q.query.runId,
      name: 'words',
      isActive: true,
      status: JSON.parse(JSON.stringify(q.query.status)),
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      trigger: { kind: 'processingTime', intervalMs: 0 },
      lastBatchId: null,
      lastProgressAt: null,
      exception: null,
      scaleOut: null,
    })
    const startedAt = Date.parse(first!['startedAt'] as string)
    expect(startedAt).toBeGreaterThanOrEqual(before)
    expect(startedAt).toBeLessThanOrEqual(after)
    await q.feed(['a'])
    const [next] = (await getJson(server, 'api/queries')).body as Record<string, unknown>[]
    expect(next).toMatchObject({ lastBatchId: 0, lastProgressAt: q.query.lastProgress!.timestamp, startedAt: first!['startedAt'] })
  })

  it('serves a query\'s status and progress by its percent-encoded id, and 404 with a message for unknown ids and paths', async () => {
    const q = await wordsQuery()
    const server = await serve(q.session, { port: 0 })
    await q.feed(['a'])
    const id = encodeURIComponent(q.query.id)
    expect(await getJson(server, `api/queries/${id}/status`)).toMatchObject({ status: 200, body: { ...q.query.status, isActive: true, exception: null } })
    expect((await getJson(server, `api/queries/${id}/progress`)).body).toEqual(JSON.parse(JSON.stringify(q.query.recentProgress)))
    expect(await getJson(server, 'api/queries/nobody/progress')).toEqual(expect.objectContaining({ status: 404, body: { error: 'no query with id nobody' } }))
    expect((await getJson(server, `api/queries/${id}/other`)).body).toEqual({ error: `not found: /api/queries/${id}/other` })
    expect((await getJson(server, `api/queries/${id}/status/more`)).body).toEqual({ error: `not found: /api/queries/${id}/status/more` })
    expect(await getJson(server, 'nope?a=b')).toEqual(expect.objectContaining({ status: 404, body: { error: 'not found: /nope' } }))
  })

  it('refuses other methods with 405 naming the method, and answers HEAD with the headers of GET and no body', async () => {
    const q = await wordsQuery()
    const server = await serve(q.session, { port: 0 })
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const res = await getJson(server, 'healthz', { method })
      expect(res, method).toMatchObject({ status: 405, body: { error: `method ${method} not allowed` } })
      expect(res.headers.get('allow')).toBe('GET, HEAD')
    }
    const get = await fetch(new URL('healthz', server.url))
    const getBody = await get.text()
    const { port } = new URL(server.url)
    const head = await new Promise<{ status: number; length: string | undefined; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/healthz', method: 'HEAD' }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], body }))
      }).on('error', reject).end()
    })
    expect(head).toEqual({ status: 200, length: String(Buffer.byteLength(getBody)), body: '' })
  })

  it('serves a failed query\'s status with its error, and keeps it listed as inactive', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((x) => { if (x < 0) throw new Error('negative input'); return x })), { outputMode: 'append' })
    const server = await serve(q.session, { port: 0 })
    q.input.addData([-1])
    await expect(q.query.awaitTermination()).rejects.toThrow('negative input')
    const status = (await getJson(server, `api/queries/${q.query.id}/status`)).body as Record<string, unknown>
    expect(status).toEqual({ ...q.query.status, isActive: false, exception: q.query.exception!.message })
    expect(status['exception']).toContain('negative input')
    expect((await getJson(server, 'api/queries')).body).toMatchObject([{ id: q.query.id, name: null, isActive: false, exception: q.query.exception!.message }])
  })

  it('allows 16 open event streams by default, and answers the next with 503 and a message', async () => {
    const server = await serve(createSession(), { port: 0 })
    const controller = new AbortController()
    later(async () => controller.abort())
    for (let i = 0; i < 16; i++) expect((await fetch(new URL('api/events', server.url), { signal: controller.signal })).status, `stream ${i}`).toBe(200)
    expect(await getJson(server, 'api/events')).toEqual(expect.objectContaining({ status: 503, body: { error: 'too many event-stream clients' } }))
    expect((await getJson(server, 'healthz')).body).toMatchObject({ eventClients: 16 })
  })

  it('lists the firing alerts in /api/alerts, one per rule and query, and drops each as it resolves', async () => {
    const q = await wordsQuery()
    const server = await serve(q.session, { port: 0 })
    const alerts = alerting(q.session, { rules: [rowsRule('odd', (n) => n % 2 === 1), rowsRule('big', (n) => n >= 3)] })
    later(() => alerts.close())
    const seen: Alert[] = []
    alerts.alerts$.subscribe((a) => seen.push(a))
    const firing = async () => ((await getJson(server, 'api/alerts')).body as Alert[]).map((a) => `${a.rule} ${a.message}`).sort()
    expect(await firing()).toEqual([])
    await q.feed(['a', 'b', 'c'])
    expect((await getJson(server, 'api/alerts')).body).toEqual(seen)
    expect(await firing()).toEqual(['big big: 3 rows', 'odd odd: 3 rows'])
    await q.feed(['a', 'b', 'c', 'd'])
    expect(await firing()).toEqual(['big big: 3 rows'])
    await q.feed(['e'])
    expect(await firing()).toEqual(['odd odd: 1 rows'])
    await q.feed(['f', 'g'])
    expect(seen.map((a) => `${a.state} ${a.rule}`)).toEqual(['firing odd', 'firing big', 'resolved odd', 'firing odd', 'resolved big', 'resolved odd'])
    expect((await getJson(server, 'api/alerts')).body).toEqual([])
  })
})
