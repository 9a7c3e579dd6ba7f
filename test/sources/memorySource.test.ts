import fc from 'fast-check'
import { expect, it } from 'vitest'
import { memorySource, nodeFs } from '../../src/index.js'
it('re-reads any offset range as the same rows, across addData chunks', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.array(fc.nat(), { maxLength: 5 }), { maxLength: 6 }), fc.nat(), fc.nat(), async (adds, a, b) => {
    const m = memorySource<number>()
    const r = await m.source.open({ fs: nodeFs, logDir: undefined, restarting: false })
    for (const x of adds) m.addData(x)
    const all = adds.flat()
    const from = a % (all.length + 1), to = from + (b % (all.length - from + 1))
    expect(await r.getBatch(from, to)).toEqual(all.slice(from, to))
  }), { numRuns: 300 })
})
