import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'

// readFile of the real module, unless a test hides the dashboard's page (to test the "not found" error).
const hide = vi.hoisted(() => ({ indexHtml: false }))
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...fs,
    readFile: ((path: string, ...rest: unknown[]) =>
      hide.indexHtml && String(path).endsWith('index.html')
        ? Promise.reject(new Error(`ENOENT: ${String(path)}`))
        : (fs.readFile as (...a: unknown[]) => unknown)(path, ...rest)) as typeof fs.readFile,
  }
})

const { loadDashboardAssets } = await import('../../src/monitor/dashboardAssets.js')

const monitorDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'monitor')
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'))

describe('loadDashboardAssets', () => {
  afterEach(() => void (hide.indexHtml = false))

  it('maps exactly the five URL paths to the dashboard and uPlot files, with their content types', async () => {
    const assets = await loadDashboardAssets()
    expect([...assets.keys()]).toEqual(['/', '/dashboard.js', '/dashboard.css', '/assets/uPlot.iife.min.js', '/assets/uPlot.min.css'])
    const expected: Record<string, [string, string]> = {
      '/': [join(monitorDir, 'dashboard', 'index.html'), 'text/html; charset=utf-8'],
      '/dashboard.js': [join(monitorDir, 'dashboard', 'dashboard.js'), 'text/javascript; charset=utf-8'],
      '/dashboard.css': [join(monitorDir, 'dashboard', 'dashboard.css'), 'text/css; charset=utf-8'],
      '/assets/uPlot.iife.min.js': [join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
      '/assets/uPlot.min.css': [join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
    }
    for (const [path, [file, contentType]] of Object.entries(expected)) {
      const asset = assets.get(path)!
      expect(asset.contentType, path).toBe(contentType)
      expect(asset.body.equals(readFileSync(file)), path).toBe(true)
      expect(asset.body.length, path).toBeGreaterThan(0)
    }
  })

  it('names every folder it looked in when the dashboard files are missing', async () => {
    hide.indexHtml = true
    const fromSources = join(monitorDir, 'dashboard')
    const fromDist = join(monitorDir, '..', '..', '..', 'src', 'monitor', 'dashboard')
    await expect(loadDashboardAssets()).rejects.toThrow(
      new Error(`structured-rx monitoring: dashboard files not found (looked in ${fromSources}, ${fromDist})`),
    )
  })
})
