import ts from 'typescript'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const repo = resolve(import.meta.dirname, '../..')
/** The package's entry points, as package.json exports them. */
const ENTRIES = ['src/index.ts', 'laws/index.ts', 'src/testing.ts']

interface ExportDoc {
  readonly entry: string
  readonly name: string
  readonly isValue: boolean
  readonly doc: string
  readonly hasExample: boolean
}

function exportDocs(): ExportDoc[] {
  const program = ts.createProgram(
    ENTRIES.map((e) => join(repo, e)),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true },
  )
  const checker = program.getTypeChecker()
  return ENTRIES.flatMap((entry) => {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(repo, entry))!)!
    return checker.getExportsOfModule(module).map((exported) => {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim()
      return {
        entry,
        name: exported.name,
        isValue: (symbol.flags & ts.SymbolFlags.Value) !== 0,
        doc,
        hasExample: symbol.getJsDocTags(checker).some((tag) => tag.name === 'example' && ts.displayPartsToString(tag.text).trim() !== ''),
      }
    })
  })
}

describe('API reference: doc comments of every export of structured-rx, structured-rx/laws and structured-rx/testing', () => {
  const docs = exportDocs()

  it('finds the exports of all three entries', () => {
    for (const entry of ENTRIES) expect(docs.filter((d) => d.entry === entry).length).toBeGreaterThan(5)
    expect(docs.map((d) => d.name)).toEqual(expect.arrayContaining(['createSession', 'incrementalMatchesReference', 'faultyFs']))
  })

  it('every export has a doc comment', () => {
    expect(docs.filter((d) => d.doc === '').map((d) => `${d.entry}: ${d.name}`)).toEqual([])
  })

  it('every export — function, class, constant, type and interface — has an @example', () => {
    expect(docs.filter((d) => !d.hasExample).map((d) => `${d.entry}: ${d.name}`)).toEqual([])
  })

  it('checks types and interfaces too, not only values', () => {
    const types = docs.filter((d) => !d.isValue).map((d) => d.name)
    expect(types).toEqual(expect.arrayContaining(['SessionOptions', 'StreamingQueryProgress', 'CrashLawOptions', 'FaultKind']))
  })
})
