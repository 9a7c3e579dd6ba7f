import { format } from 'node:util'
import { describe, expect, it } from 'vitest'
import { examplesOf, expectedOutput } from './docBlocks.js'

const md = [
  '# Guide',
  '```ts',
  "const rows = [{ key: 'walk', count: 2 }]",
  'console.log(rows)',
  "// [ { key: 'walk', count: … } ]",
  '```',
  '```ts fragment',
  'map<A, B>(fn: (row: A) => B): Operator<A, B>',
  '```',
  '```ts continues',
  "console.log('more')",
  '// more',
  '```',
  '```sh',
  'npm test',
  '```',
].join('\n')

describe('doc code blocks', () => {
  it('a continuing block joins the chain before it and the chain runs once; fragments and other languages are skipped', () => {
    const examples = examplesOf('guide.md', md)
    expect(examples.map((e) => e.name)).toEqual(['guide.md:2-10'])
    expect(examples[0]!.code).toContain("console.log('more')")
    expect(examples[0]!.code).not.toContain('map<A, B>')
  })

  it('the comments after console.log are the expected output, with … for anything, and a different output fails', () => {
    const expected = expectedOutput(examplesOf('guide.md', md)[0]!.code)!
    const printed = (count: number) => [format([{ key: 'walk', count }]), 'more'].join('\n').replace(/\s+/g, '')
    expect(printed(2)).toMatch(expected)
    expect(printed(7)).toMatch(expected)
    expect('[{key:\'sit\',count:2}]more').not.toMatch(expected)
    expect(printed(2).replace('more', 'less')).not.toMatch(expected)
  })

  it('an unknown block kind is an error naming the line', () => {
    expect(() => examplesOf('g.md', '```ts maybe\nx\n```')).toThrow("g.md:1: unknown code block kind 'maybe'")
  })
})
