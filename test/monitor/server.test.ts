import { request } from 'node:http'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import {
  alerting,
  count,
  groupBy,
  map,
  memorySource,
  serveMonitoring,
  stateGrowth,
  type StreamingQuery,
} from '../../src/index.js'
import { startQuery } from '../exec/support.js'
import { cleanupAfterEach, serveClosedBy } from './support.js'

const later = cleanupAfterEach()

const serve = serveClosedBy(later)

async function countsQuery() {
  const q = await startQuery<string, unknown>((s) => s.pipe(groupBy((k) => k, t.string), count()), { outputMode: 'update', queryName: 'words' })
  later(() => q.query.stop())
  return q
}

/** Reads server-sent events from `url` until `until` holds for the events seen so far. */
async function readEvents(url: string, until: (events: { type: string; data: unknown }[]) => boolean, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const res = await fetch(url, { headers, signal: controller.signal })
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  const events: { type: string; data: unknown }[] = []
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  const done = (async () => {
    while (!until(events)) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const type = /^event: (.*)$/m.exec(frame)?.[1]
        const data = /^data: (.*)$/m.exec(frame)?.[1]
        if (type !== undefined && data !== undefined) events.push({ type, data: JSON.parse(data) })
      }
    }
    controller.abort()
    return events
  })()
  return { done }
}

describe('serveMonitoring', () => {
  it('listens on loopback, on a free port with port 0', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    const health = await fetch(new URL('healthz', server.url))
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok', activeQueries: 1 })
  })

  it('serves the session metrics in Prometheus text format', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    await q.feed(['a', 'b', 'a'])
    const res = await fetch(new URL('metrics', server.url))
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    expect(text).toContain('# TYPE structured_rx_input_rows_total counter')
    expect(text).toContain(`structured_rx_input_rows_total{query_name="words",query_id="${q.query.id}"} 3`)
  })

  it('lists queries, and serves the status and recent progress of each', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    await q.feed(['a'])
    await q.feed(['b'])
    const list = (await (await fetch(new URL('api/queries', server.url))).json()) as { id: string; name: string; lastBatchId: number; isActive: boolean }[]
    expect(list).toMatchObject([{ id: q.query.id, name: 'words', lastBatchId: 1, isActive: true }])
    const status = await (await fetch(new URL(`api/queries/${q.query.id}/status`, server.url))).json()
    expect(status).toEqual({ ...q.query.status, isActive: true, exception: null })
    const progress = (await (await fetch(new URL(`api/queries/${q.query.id}/progress`, server.url))).json()) as { batchId: number }[]
    expect(progress).toEqual(JSON.parse(JSON.stringify(q.query.recentProgress)))
    expect(progress.map((p) => p.batchId)).toEqual([0, 1])
  })

  it('keeps a failed query listed with its error', async () => {
    const q = await startQuery<number, number>((s) => s.pipe(map((x) => { if (x < 0) throw new Error('negative input'); return x })), { outputMode: 'append', queryName: 'fails' })
    const server = await serve(q.session, { port: 0 })
    q.input.addData([-1])
    await expect(q.query.awaitTermination()).rejects.toThrow('negative input')
    const list = (await (await fetch(new URL('api/queries', server.url))).json()) as { isActive: boolean; exception: string }[]
    expect(list).toMatchObject([{ isActive: false }])
    expect(list[0]!.exception).toContain('negative input')
    const status = (await (await fetch(new URL(`api/queries/${q.query.id}/status`, server.url))).json()) as { message: string }
    expect(status.message).toMatch(/^Terminated with exception: .*negative input/)
  })

  it('streams started, progress, terminated and alert events as server-sent events', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    const alerts = alerting(q.session, { rules: [stateGrowth({ rows: 1 })] })
    later(() => alerts.close())
    const stream = await readEvents(new URL('api/events', server.url).href, (es) => es.some((e) => e.type === 'terminated'))
    await q.feed(['a', 'b'])
    const second = await q.session.readStream(memorySource<string>().source).writeStream({ outputMode: 'append', sink: q.sink, queryName: 'second' }).start()
    await second.stop()
    const events = (await stream.done).filter((e) => e.type !== 'idle')
    expect(events.map((e) => e.type)).toEqual(['progress', 'alert', 'started', 'terminated'])
    expect(events[0]!.data).toMatchObject({ id: q.query.id, batchId: 0, numInputRows: 2 })
    expect(events[1]!.data).toMatchObject({ rule: 'stateGrowth', state: 'firing', queryId: q.query.id })
    expect(events[2]!.data).toMatchObject({ type: 'started', id: second.id, name: 'second' })
    expect(await (await fetch(new URL('api/alerts', server.url))).json()).toMatchObject([{ rule: 'stateGrowth' }])
  })

  it('serves the dashboard and uPlot from the installed package, and 404 for anything else', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    const page = await fetch(server.url)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const html = await page.text()
    expect(html).toContain('<script src="assets/uPlot.iife.min.js">')
    expect(html).not.toMatch(/https?:\/\//)
    const uplot = await fetch(new URL('assets/uPlot.iife.min.js', server.url))
    expect(uplot.status).toBe(200)
    expect(await uplot.text()).toContain('uPlot')
    for (const path of ['nope', 'api/queries/unknown/status', 'assets/../package.json', 'assets/%2e%2e/%2e%2e/package.json']) {
      expect((await fetch(new URL(path, server.url))).status, path).toBe(404)
    }
  })

  it('never maps a raw request path onto the file system', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    const { port } = new URL(server.url)
    for (const raw of ['/../package.json', '/assets/../../package.json', '/..%2f..%2fpackage.json', '//etc/passwd']) {
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: raw }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }).on('error', reject).end()
      })
      expect(status, raw).toBe(404)
    }
  })

  it('refuses methods other than GET', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0 })
    const res = await fetch(new URL('metrics', server.url), { method: 'POST' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD')
  })

  it('with a token, answers 401 to every request without the right bearer token', async () => {
    const q = await countsQuery()
    const server = await serve(q.session, { port: 0, token: 's3cret' })
    for (const path of ['', 'metrics', 'healthz', 'api/queries', 'api/events', 'nope']) {
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret2', 's3cret', 'Basic czNjcmV0']) {
        const res = await fetch(new URL(path, server.url), { headers: authorization ? { authorization } : {} })
        expect(res.status, `${path} ${authorization}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
      }
    }
    const ok = await fetch(new URL('api/queries', server.url), { headers: { authorization: 'Bearer s3cret' } })
    expect(ok.status).toBe(200)
  })

  it('caps the event-stream clients, and close() ends the open streams', async () => {
    const q = await countsQuery()
    const server = await serveMonitoring(q.session, { port: 0, maxEventClients: 1 })
    const first = await fetch(new URL('api/events', server.url))
    expect(first.status).toBe(200)
    const second = await fetch(new URL('api/events', server.url))
    expect(second.status).toBe(503)
    const reading = (async () => {
      const reader = first.body!.getReader()
      while (!(await reader.read()).done);
      return 'ended'
    })()
    await server.close()
    expect(await reading).toBe('ended')
  })

  it('refuses a bad port or an empty token, and reports a taken port', async () => {
    const q = await countsQuery()
    await expect(serveMonitoring(q.session, { port: 70000 })).rejects.toThrow(/port must be an integer in 0..65535/)
    await expect(serveMonitoring(q.session, { port: 0, token: '' })).rejects.toThrow(/token must not be empty/)
    const server = await serve(q.session, { port: 0 })
    await expect(serveMonitoring(q.session, { port: Number(new URL(server.url).port) })).rejects.toThrow(/EADDRINUSE/)
  })
})
