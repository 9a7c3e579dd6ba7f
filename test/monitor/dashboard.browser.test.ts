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
import { keyIdOf, partitionOf } from '../../src/util/keys.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClusterQuery,
  count,
  createSession,
  foreachBatch,
  groupBy,
  map,
  memoryCoordinator,
  memorySink,
  memorySource,
  type MonitoringServer,
  partitionedSource,
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
const dirs: string[] = []
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
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
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

  it('lists the tasks of a query run by a cluster, each with its owner, epoch and last batch', async () => {
    const P = 4
    const parts = Array.from({ length: P }, () => memorySource<{ user: string }>())
    const coordinator = memoryCoordinator({ ttlMs: 15_000 }) // long: a loaded machine must not let a lease lapse mid-test
    const checkpoint = await mkdtemp(join(tmpdir(), 'srx-dashboard-cluster-'))
    dirs.push(checkpoint)
    const member = (s: Session) =>
      s.readStream(partitionedSource(parts.map((p) => p.source), { by: 'stableKeyHash' }))
        .pipe(groupBy((r: { user: string }) => r.user, t.string), count())
        .writeStream({ outputMode: 'update', sink: memorySink(), queryName: 'clicks-cluster', checkpointLocation: checkpoint, cluster: { name: 'clicks', coordinator, heartbeatMs: 100 } })
        .start() as Promise<ClusterQuery>
    const here = await member(session)
    const other = await member(createSession({ warn: () => undefined }))
    try {
      const owners = () => here.scaleOut.taskStatus.map((task) => task.owner)
      await expect.poll(() => [here.runningTasks.length, other.runningTasks.length, owners().filter((o) => o === here.member).length], { timeout: 30_000 }).toEqual([2, 2, 2])
      // 40 users, written the way partitionBy(user) writes them: every partition gets some.
      for (let i = 0; i < 40; i++) parts[partitionOf(keyIdOf(`u${i}`), P)]!.addData([{ user: `u${i}` }])
      await here.processAllAvailable()
      await page.goto(`${server.url}#${here.id}`)
      await page.waitForSelector('#connection[data-state="live"]')
      const row = page.locator('#queries tbody tr', { hasText: 'clicks-cluster' })
      await expect.poll(() => row.locator('td').nth(3).textContent(), { timeout: 10_000 }).toBe('4 tasks · 2 members')
      await row.click()
      await expect.poll(() => page.locator('#tasks tbody tr').count(), { timeout: 10_000 }).toBe(P)
      await expect.poll(() => page.locator('#detail-tasks-summary').textContent()).toContain(`this member ${here.member}`)
      for (const task of here.scaleOut.taskStatus) {
        const cells = () => page.locator(`#tasks tbody tr[data-task="${task.task}"] td`).allTextContents()
        const runsHere = here.runningTasks.includes(task.task)
        // The last batch is known for the tasks this member runs (each ran one with data), blank for the others'.
        if (runsHere) expect(task.lastBatchId, `task ${task.task} ran a batch`).not.toBeNull()
        const lastBatch = runsHere ? String(task.lastBatchId) : ''
        await expect.poll(cells, { timeout: 10_000, message: `row of task ${task.task}` })
          .toEqual([String(task.task), runsHere ? here.member : other.member, String(task.epoch), lastBatch, expect.any(String)])
        expect(Number((await cells())[2]), `epoch of task ${task.task}`).toBeGreaterThanOrEqual(1)
      }
      await page.screenshot({ path: join(OUT, 'dashboard-cluster-tasks.png'), fullPage: true })
    } finally {
      await other.stop()
      await here.stop()
    }
  })
})
