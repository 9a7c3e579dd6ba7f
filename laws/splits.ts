import fc from 'fast-check'

/**
 * Arbitrary cuts of an input into micro-batches, independent of the input so that both shrink on their own:
 * up to `maxBatches - 1` raw cut seeds, turned into positions by `splitsOf` once the input length is known.
 * @example fc.asyncProperty(rows, splitSeeds(), async (rows, seeds) => run(rows, splitsOf(seeds, rows.length)))
 */
export function splitSeeds(maxBatches = 10): fc.Arbitrary<number[]> {
  if (!Number.isInteger(maxBatches) || maxBatches < 1) {
    throw new RangeError(`maxBatches must be a positive integer, got ${maxBatches}`)
  }
  return fc.array(fc.nat({ max: 0xffff }), { maxLength: maxBatches - 1 })
}

/**
 * Sorted, unique cut positions within `[0, length]` from cut seeds. A cut at 0 or at `length` makes an empty
 * first or last micro-batch, so empty batches come up regularly.
 * @example splitsOf([7, 2, 12], 5) // [1, 2]
 */
export function splitsOf(seeds: readonly number[], length: number): number[] {
  return [...new Set(seeds.map((s) => s % (length + 1)))].sort((a, b) => a - b)
}
