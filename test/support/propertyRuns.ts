/**
 * How many runs a property that is expected to hold gets. Mutation testing runs the covering tests once per mutant,
 * and the laws' properties are most of that time, so `vitest.stryker.config.ts` sets `SRX_HOLDS_RUNS_PERCENT` to run
 * a share of them there; everywhere else the count is as written. A mutant survives a shortened property only where
 * the full one might still kill it, so a score measured this way is a lower bound, and docs/testing.md has every
 * survivor re-checked with the full runs. Properties that must *fail* within their runs (a law shown able to fail)
 * keep their full count: they are not called through this.
 */
export function holdsRuns(numRuns: number): number {
  const percent = process.env.SRX_HOLDS_RUNS_PERCENT
  if (percent === undefined || percent === '') return numRuns
  const share = Number(percent)
  if (!(share > 0 && share <= 100)) throw new Error(`SRX_HOLDS_RUNS_PERCENT must be a number in (0, 100], got '${percent}'`)
  return Math.max(Math.min(numRuns, 10), Math.ceil((numRuns * share) / 100))
}
