/**
 * The code blocks of README.md and docs/*.md, for the test that runs them. Every ```ts block is a complete example
 * unless its info string says otherwise:
 * - ```ts fragment — a signature or a piece of a larger program: shown, not run;
 * - ```ts continues — joins the blocks before it in the same file (back to the last complete one) into one
 *   program, so a guide can build it in steps; the chain runs once, whole.
 * A block that imports from 'vitest' is a test file: its tests run as tests. Comment lines right after a line with
 * `console.log(` show what it prints, and are compared with what it does print (`…` stands for anything).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** One runnable example: its code (continuations joined) and where it comes from. */
export interface DocExample {
  /** e.g. `docs/getting-started.md:31`. */
  readonly name: string
  readonly code: string
  readonly isTestFile: boolean
}

/** The markdown files whose examples run: README.md and everything under docs/, new files included. */
export function docFiles(repo: string): string[] {
  const docs = readdirSync(join(repo, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f))
  return ['README.md', ...docs.sort()]
}

/** The examples of one markdown file. */
export function examplesOf(file: string, markdown: string): DocExample[] {
  const examples: DocExample[] = []
  const lines = markdown.split('\n')
  let chain: string[] = []
  let chainStart = 0
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js|javascript)\b\s*(.*)$/.exec(lines[i]!)
    if (open === null) {
      if (/^```/.test(lines[i]!)) i = closingFence(lines, i) // skip other blocks whole
      continue
    }
    const end = closingFence(lines, i)
    const code = lines.slice(i + 1, end).join('\n')
    const kind = open[2]!.trim()
    const i0 = i
    const at = `${file}:${i + 1}`
    i = end
    if (kind === 'fragment') continue
    if (kind !== '' && kind !== 'continues') throw new Error(`${at}: unknown code block kind '${kind}' (use fragment or continues)`)
    if (kind === 'continues') {
      if (chain.length === 0) throw new Error(`${at}: a 'continues' block needs a complete block before it`)
      // The chain runs once, whole, named by its first and last block.
      examples.pop()
      chain = [...chain, code]
    } else {
      chain = [code]
      chainStart = i0
    }
    const joined = chain.join('\n\n')
    const name = chain.length === 1 ? at : `${file}:${chainStart + 1}-${i0 + 1}`
    examples.push({ name, code: joined, isTestFile: /from 'vitest'/.test(joined) })
  }
  return examples
}

function closingFence(lines: readonly string[], open: number): number {
  for (let j = open + 1; j < lines.length; j++) if (/^```\s*$/.test(lines[j]!)) return j
  throw new Error(`unclosed code block at line ${open + 1}`)
}

/** Reads every example of README.md and docs/. */
export function allExamples(repo: string): DocExample[] {
  return docFiles(repo).flatMap((f) => examplesOf(f, readFileSync(join(repo, f), 'utf8')))
}

/**
 * What the example's comments say it prints: for each `console.log(` line, the comment lines right after it, in
 * order, as one regular expression over the printed text with whitespace removed.
 */
export function expectedOutput(code: string): RegExp | undefined {
  const lines = code.split('\n')
  const pieces: string[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.includes('console.log(')) continue
    const shown: string[] = []
    for (let j = i + 1; j < lines.length && /^\s*\/\/ /.test(lines[j]!); j++) shown.push(lines[j]!.replace(/^\s*\/\/ /, ''))
    if (shown.length > 0) pieces.push(shown.join('').replace(/\s+/g, ''))
  }
  if (pieces.length === 0) return undefined
  const pattern = pieces.map((p) => p.split('…').map(escape).join('[\\s\\S]*?')).join('[\\s\\S]*?')
  return new RegExp(pattern)
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The example with the package's entry points pointed at this repository's sources. */
export function withLocalImports(code: string, fromDir: string, repo: string): string {
  const target = (entry: string) => {
    const path = entry === 'laws' ? 'laws/index.js' : entry === 'testing' ? 'src/testing.js' : 'src/index.js'
    return JSON.stringify(join(repo, path)).slice(1, -1)
  }
  void fromDir
  return code.replace(/from 'structured-rx(?:\/(laws|testing))?'/g, (_, entry: string | undefined) => `from '${target(entry ?? '')}'`)
}
