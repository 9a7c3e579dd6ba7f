/** Helpers for monitoring tests: a loopback HTTP server that records requests, and waiting for values. */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { firstValueFrom, type Observable, filter, timeout } from 'rxjs'
import { afterEach } from 'vitest'
import { type MonitoringServer, serveMonitoring } from '../../src/index.js'

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
}

/** A real HTTP server on 127.0.0.1 (free port) that answers each request with the next status of `statuses` (then 200). */
export async function recordingServer(statuses: number[] = []): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      res.statusCode = statuses.shift() ?? 200
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** The first value of `source$` that satisfies `predicate`, or a rejection after `ms`. */
export function firstMatching<T>(source$: Observable<T>, predicate: (value: T) => boolean, ms = 20_000): Promise<T> {
  return firstValueFrom(source$.pipe(filter(predicate), timeout(ms)))
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Registers clean-up steps that run after each test, last registered first. */
export function cleanupAfterEach(): (step: () => Promise<unknown>) => void {
  const steps: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step()
  })
  return (step) => void steps.push(step)
}

/** `serveMonitoring`, with each server closed by the clean-up steps of {@link cleanupAfterEach}. */
export function serveClosedBy(later: (step: () => Promise<unknown>) => void): (...args: Parameters<typeof serveMonitoring>) => Promise<MonitoringServer> {
  return async (...args) => {
    const server = await serveMonitoring(...args)
    later(() => server.close())
    return server
  }
}
