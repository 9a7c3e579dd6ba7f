import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { format, promisify } from 'node:util'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { allExamples, docFiles, expectedOutput, withLocalImports } from './docBlocks.js'

const repo = resolve(import.meta.dirname, '../..')
const examples = allExamples(repo)
// Inside the repository, so the examples resolve io-ts, rxjs and fast-check from its node_modules.
const runDir = mkdtempSync(join(repo, '.doc-examples-'))
const files = examples.map((example, i) => {
  const file = join(runDir, `example${i}.ts`)
  writeFileSync(file, `// ${example.name}\n${withLocalImports(example.code, runDir, repo)}\nexport {}\n`)
  return { ...example, file }
})
afterAll(() => rmSync(runDir, { recursive: true, force: true }))

describe('the examples of README.md and docs/ run', () => {
  for (const example of files.filter((e) => !e.isTestFile)) {
    const expected = expectedOutput(example.code)
    it(`${example.name} runs${expected === undefined ? '' : ' and prints what the doc shows'}`, async () => {
      const printed: string[] = []
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(format(...args)))
      try {
        await import(example.file)
      } finally {
        log.mockRestore()
      }
      if (expected !== undefined) expect(printed.join('\n').replace(/\s+/g, '')).toMatch(expected)
    })
  }
})

// A test-file example registers its own tests, here, as the doc tells users to run them.
for (const example of files.filter((e) => e.isTestFile)) {
  describe(`${example.name} (a vitest file)`, async () => {
    await import(example.file)
  })
}

describe('the examples of README.md and docs/ type-check', () => {
  it('tsc reports no error in any example', async () => {
    writeFileSync(
      join(runDir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { noEmit: true, rootDir: '..', noUnusedLocals: false },
        include: ['*.ts'],
      }),
    )
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', join(runDir, 'tsconfig.json')], { cwd: repo }).catch(
      (e: { stdout: string }) => e,
    )
    const errors = 'stdout' in result ? result.stdout : ''
    // Name the doc and line of each failing example, not the temporary file.
    const named = errors.replace(/[^\s]*example(\d+)\.ts\((\d+),\d+\)/g, (_, i: string, line: string) => `${files[Number(i)]!.name} (example line ${Number(line) - 1})`)
    expect(named).toBe('')
  }, 300_000)
})

describe('links in README.md and docs/', () => {
  it('point only at files the package ships (README.md, docs/, src/, laws/), and those exist', () => {
    const shipped = /^(README\.md|docs\/|src\/|laws\/)/
    const bad: string[] = []
    for (const file of docFiles(repo)) {
      const text = readFileSync(join(repo, file), 'utf8')
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!
        if (target === '' || /^[a-z]+:/.test(target)) continue
        const path = relative(repo, resolve(repo, dirname(file), target))
        let exists = true
        try {
          readFileSync(join(repo, path))
        } catch {
          exists = false
        }
        if (!shipped.test(path) || !exists) bad.push(`${file}: ${m[1]} (${exists ? 'not shipped' : 'missing'})`)
      }
    }
    expect(bad).toEqual([])
  })

  it('name headings that exist in the file they point at (GitHub anchors)', () => {
    const bad: string[] = []
    for (const file of docFiles(repo)) {
      const text = readFileSync(join(repo, file), 'utf8')
      for (const m of text.matchAll(/\]\(([^)\s]*#[^)\s]+)\)/g)) {
        const [target, anchor] = m[1]!.split('#') as [string, string]
        if (/^[a-z]+:/.test(target) || !(target === '' || target.endsWith('.md'))) continue
        const path = target === '' ? file : relative(repo, resolve(repo, dirname(file), target))
        if (!anchorsOf(readFileSync(join(repo, path), 'utf8')).has(anchor)) bad.push(`${file}: ${m[1]}`)
      }
    }
    expect(bad).toEqual([])
  })
})

/** The anchors GitHub gives a markdown file's headings: lower case, punctuation dropped, spaces as '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const slug = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return anchors
}
