import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A file the dashboard serves: its bytes and content type. */
export interface Asset {
  readonly body: Buffer
  readonly contentType: string
}

const here = dirname(fileURLToPath(import.meta.url))
// From the sources this module sits beside `dashboard/`; compiled into dist/src/monitor it finds the shipped sources.
const DASHBOARD_DIRS = [join(here, 'dashboard'), join(here, '..', '..', '..', 'src', 'monitor', 'dashboard')]

/**
 * Reads the dashboard's files once: its page, script and style, and uPlot's script and style from the installed
 * `uplot` package (no CDN: the dashboard works offline). The result maps URL paths to files: a fixed table, so no
 * request path ever reaches the file system.
 * @example const assets = await loadDashboardAssets(); assets.get('/')?.contentType // 'text/html; charset=utf-8'
 * @throws Error when the dashboard files or the uplot package cannot be found.
 */
export async function loadDashboardAssets(): Promise<ReadonlyMap<string, Asset>> {
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'))
  const dir = await firstReadable(DASHBOARD_DIRS, 'index.html')
  const files: [string, string, string][] = [
    ['/', join(dir, 'index.html'), 'text/html; charset=utf-8'],
    ['/dashboard.js', join(dir, 'dashboard.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard.css', join(dir, 'dashboard.css'), 'text/css; charset=utf-8'],
    ['/assets/uPlot.iife.min.js', join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/assets/uPlot.min.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ]
  const assets = new Map<string, Asset>()
  for (const [path, file, contentType] of files) assets.set(path, { body: await readFile(file), contentType })
  return assets
}

async function firstReadable(dirs: readonly string[], file: string): Promise<string> {
  for (const dir of dirs) {
    if (await readFile(join(dir, file)).then(() => true, () => false)) return dir
  }
  throw new Error(`structured-rx monitoring: dashboard files not found (looked in ${dirs.join(', ')})`)
}
