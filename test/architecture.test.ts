/**
 * The architecture, checked from the source: every import of `src/` points down the layer order, no source file
 * grows past 300 lines, and every folder says what it is for in a header paragraph of its main file.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src')

/**
 * The layers from top to bottom and what each may import besides itself. A file's layer is its folder under
 * `src/` (or its name for files at the top). `monitor/` only observes: it may import the session and everything
 * below it, and nothing but the entries and the command line may import it.
 */
const LAYERS: Record<string, { readonly rank: number; readonly alsoImports?: readonly string[] }> = {
  'index.ts': { rank: 9 },
  'testing.ts': { rank: 9 },
  cli: { rank: 8 },
  monitor: { rank: 7 },
  'session.ts': { rank: 6, alsoImports: ['stream.ts', 'listenerBus.ts'] },
  'listenerBus.ts': { rank: 6 },
  'stream.ts': { rank: 6 },
  exec: { rank: 5 },
  checkpoint: { rank: 4, alsoImports: ['state'] },
  sources: { rank: 4 },
  sinks: { rank: 4 },
  state: { rank: 4 },
  operators: { rank: 3 },
  plan: { rank: 2 },
  durable: { rank: 1 },
  util: { rank: 0 },
  'errors.ts': { rank: 0, alsoImports: ['util'] },
}

/** The file of each folder whose first comment says what the folder is for. */
const FOLDER_HEADERS: Record<string, string> = {
  cli: 'cli/cli.ts',
  monitor: 'monitor/server.ts',
  exec: 'exec/startQuery.ts',
  checkpoint: 'checkpoint/queryCheckpoint.ts',
  sources: 'sources/source.ts',
  sinks: 'sinks/sink.ts',
  state: 'state/stateStore.ts',
  operators: 'operators/index.ts',
  plan: 'plan/plan.ts',
  durable: 'durable/fs.ts',
  util: 'util/keys.ts',
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** The layer of a file under `src/`: its top folder, or its own name (as `.ts`) at the top. */
function layerOf(file: string): string {
  return relative(SRC, file).split(/[\\/]/)[0]!.replace(/\.js$/, '.ts')
}

/** The relative module specifiers a file imports or re-exports, static or dynamic. */
function importsOf(text: string): string[] {
  const specifiers: string[] = []
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g
  for (const m of text.matchAll(pattern)) specifiers.push((m[1] ?? m[2] ?? m[3])!)
  return specifiers.filter((s) => s.startsWith('.'))
}

/** Why `from` may not import `to`, or undefined when it may. */
function violation(from: string, to: string): string | undefined {
  if (from === to) return undefined
  const a = LAYERS[from]
  const b = LAYERS[to]
  if (a === undefined) return `${from} is in no layer (add it to LAYERS)`
  if (b === undefined) return `${to} is in no layer (add it to LAYERS)`
  if (to === 'monitor' && a.rank < LAYERS.monitor!.rank) return `${from} imports monitor/, which only observes`
  if (a.alsoImports?.includes(to)) return undefined
  if (b.rank < a.rank) return undefined
  return `${from} (layer ${a.rank}) imports ${to} (layer ${b.rank})`
}

describe('the architecture of src/', () => {
  const files = sourceFiles(SRC)

  it('finds the source files it checks', () => {
    expect(files.length).toBeGreaterThan(50)
  })

  it('imports only downward: cli → session/stream → exec → sources/sinks/state/checkpoint → operators → plan → durable → util/errors', () => {
    const found: string[] = []
    for (const file of files) {
      for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), specifier)
        const reason = violation(layerOf(file), layerOf(target))
        if (reason !== undefined) found.push(`${relative(SRC, file)} → ${specifier}: ${reason}`)
      }
    }
    expect(found).toEqual([])
  })

  it('the layer check sees an upward import as a violation', () => {
    expect(violation('plan', 'exec')).toMatch(/imports exec/)
    expect(violation('state', 'checkpoint')).toMatch(/imports checkpoint/)
    expect(violation('sources', 'state')).toMatch(/imports state/)
    expect(violation('exec', 'monitor')).toMatch(/only observes/)
    expect(violation('checkpoint', 'state')).toBeUndefined()
    expect(importsOf("import { a } from '../exec/batch.js'\nexport type { B } from './b.js'\nconst c = import('./c.js')")).toEqual([
      '../exec/batch.js',
      './b.js',
      './c.js',
    ])
  })

  it('has no source file over 300 lines', () => {
    const long = files
      .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 300)
    expect(long).toEqual([])
  })

  it('gives every folder a header paragraph in its main file', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
    const missing = folders.filter((folder) => {
      const main = FOLDER_HEADERS[folder]
      if (main === undefined) return true
      const text = readFileSync(join(SRC, main), 'utf8')
      return !text.startsWith(`/**\n * ${folder}/ — `)
    })
    expect(missing).toEqual([])
  })
})
