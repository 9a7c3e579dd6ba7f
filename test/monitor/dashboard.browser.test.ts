/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core against `serveMonitoring` of running
 * queries. Screenshots go to test-output/monitor/ (gitignored).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  count,
  createSession,
  foreachBatch,
  groupBy,
  map,
  memorySource,
  type MonitoringServer,
  rateSource,
  serveMonitoring,
  type Session,
  type StreamingQuery,
  trigger,
  withWatermark,
} from '../../src/index.js'

const CHROMIUM = '/usr/bin/chromium'
const OUT = join(process.cwd(), 'test-output', 'monitor')
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

let session: Session
let server: MonitoringServer
let counts: StreamingQuery
let profile: string
let browser: BrowserContext
let page: Page

beforeAll(async () => {
  await mkdir(OUT, { recursive: true })
  session = createSession({ shufflePartitions: 4 })
  counts = await session
    .readStream(rateSource({ rowsPerSecond: 400 }))
    .pipe(
      withWatermark((r) => r.timestamp, '2 seconds'),
      groupBy((r) => `k${r.value % 20}`, t.string, { window: { time: (r) => r.timestamp, size: '1 second' } }),
      count(),
    )
    .writeStream({ outputMode: 'update', sink: foreachBatch(() => {}), queryName: 'rate-counts', trigger: trigger.processingTime('250 ms') })
    .start()
  server = await serveMonitoring(session, { port: 0 })
  profile = await mkdtemp(join(tmpdir(), 'srx-chromium-'))
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1400, height: 1100 } })
  page = await browser.newPage()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
  await Promise.all(session?.streams.active.map((q) => q.stop()) ?? [])
  if (profile) await rm(profile, { recursive: true, force: true })
})

/** The number of points the dashboard has plotted in chart `id`. */
async function points(id: string): Promise<number> {
  return Number((await page.getAttribute(`#${id}`, 'data-points')) ?? '0')
}

/** How many pixels of the chart's canvas are drawn (not transparent): a chart with plotted lines has many. */
function drawnPixels(id: string): Promise<number> {
  // Runs in the page (the test itself is compiled without the DOM library).
  return page.evaluate(`(() => {
    const canvas = document.querySelector('#${id} canvas')
    if (!canvas) return 0
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
    let n = 0
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++
    return n
  })()`)
}

describe.skipIf(!existsSync(CHROMIUM))('the dashboard in chromium', () => {
  it('plots the charts of a running query and moves them as batches complete', async () => {
    await page.goto(`${server.url}#${counts.id}`)
    await page.waitForSelector('#connection[data-state="live"]')
    await expect.poll(() => points('chart-rates'), { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
    const charts = ['chart-rates', 'chart-rows', 'chart-duration', 'chart-state-rows', 'chart-state-memory', 'chart-watermark']
    for (const id of charts) {
      expect(await page.locator(`#${id} canvas`).count(), id).toBe(1)
      await expect.poll(() => drawnPixels(id), { timeout: 10_000, message: id }).toBeGreaterThan(200)
    }
    const before = await points('chart-rates')
    const batchBefore = counts.lastProgress!.batchId
    await page.screenshot({ path: join(OUT, 'dashboard-running-1.png'), fullPage: true })
    await expect.poll(() => points('chart-rates'), { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 3)
    expect(counts.lastProgress!.batchId).toBeGreaterThan(batchBefore)
    await page.screenshot({ path: join(OUT, 'dashboard-running-2.png'), fullPage: true })
    expect(await page.locator('#queries tbody tr').first().textContent()).toContain('rate-counts')
    const firstBatchRow = await page.locator('#batches tbody tr').first().locator('td').first().textContent()
    expect(Number(firstBatchRow)).toBeGreaterThan(batchBefore)
  })

  it('shows a failed query with its error', async () => {
    const input = memorySource<number>()
    const failing = await session
      .readStream(input.source)
      .pipe(map((x: number) => { if (x === 13) throw new Error('unlucky row 13'); return x }))
      .writeStream({ outputMode: 'append', sink: foreachBatch(() => {}), queryName: 'unlucky' })
      .start()
    await page.goto(server.url)
    await page.waitForSelector('#connection[data-state="live"]')
    await page.locator('#queries tbody tr', { hasText: 'unlucky' }).waitFor()
    input.addData([13])
    await expect(failing.awaitTermination()).rejects.toThrow('unlucky row 13')
    const row = page.locator('#queries tbody tr', { hasText: 'unlucky' })
    await expect.poll(() => row.locator('td.error-cell').textContent(), { timeout: 10_000 }).toContain('unlucky row 13')
    await row.click()
    await page.locator('#detail-error').waitFor({ state: 'visible' })
    expect(await page.locator('#detail-error').textContent()).toContain('unlucky row 13')
    expect(await page.locator('#detail-status').textContent()).toMatch(/Terminated with exception/)
    await page.screenshot({ path: join(OUT, 'dashboard-failed-query.png'), fullPage: true })
  })
})
