import { existsSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { relative } from 'node:path'
import { defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { endKeptThread, keptThreadsPool } from './vitest.stryker.pool.ts'

/**
 * Temp directories on tmpfs when the machine has one: most tests write checkpoints with fsync and atomic renames,
 * which cost milliseconds each on a disk and nothing in memory, and mutation testing runs them once per mutant.
 * Every test makes its directories under `os.tmpdir()`, which reads TMPDIR.
 */
const fastTmp = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()

/**
 * The test files that take longest for the mutants they cover (seconds per file: the laws' properties run whole queries
 * on real checkpoints a hundred times), in the order they run, after all others.
 */
const slowest = [
  'test/exec/stateTimes.test.ts',
  'test/plan/compatibility.test.ts',
  'test/checkpoint/formatUpgrade.test.ts',
  'test/laws/query.test.ts',
  'test/laws/codecCopies.test.ts',
  'test/laws/incremental.test.ts',
  'test/laws/upgrade.test.ts',
]

/**
 * Runs the quick test files first. A mutant's run stops at its first failing test, and most mutants are killed by the
 * unit tests of their own module, so those should come before the laws; vitest's own order is the opposite (longest
 * file of the last run first, and under Stryker "the last run" is the previous mutant's). Which tests run is
 * unchanged, only their order: a file's rank in `slowest`, else its size (a rough count of its tests), smallest first.
 */
class QuickFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cost = (spec: TestSpecification): number => {
      const rank = slowest.indexOf(relative(spec.project.config.root, spec.moduleId))
      return rank >= 0 ? Number.MAX_SAFE_INTEGER - slowest.length + rank : statSync(spec.moduleId).size
    }
    return files.map((spec) => ({ spec, cost: cost(spec) })).sort((a, b) => a.cost - b.cost).map(({ spec }) => spec)
  }
}

/**
 * The suite as mutation testing runs it (stryker.config.mjs picks the files per mutated folder): without the tests
 * that start the demo or kill child processes, and without the crash-law properties, which take tens of seconds
 * each; docs/testing.md says what that leaves out.
 */
export default defineConfig({
  // Stryker's runner sets `pool: 'threads'` over the config; this puts the pool that keeps its worker thread from one
  // mutant to the next (vitest.stryker.pool.ts) back. SRX_MUTATE_WORKER=fresh runs with a new thread per mutant.
  plugins: process.env.SRX_MUTATE_WORKER === 'fresh' ? [] : [{
    name: 'structured-rx:kept-threads-pool',
    configureVitest({ project, vitest }) {
      project.config.pool = keptThreadsPool.name
      project.config.poolRunner = keptThreadsPool
      vitest.onClose(endKeptThread)
    },
  }],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [
      'test/e2e/**', 'test/cli/demo.test.ts', 'test/laws/exactlyOnce.test.ts',
      // They replace a module (node:fs, node:v8, the dashboard's server) with vi.mock, which needs a module graph of
      // their own: in the one shared here, the real module is already loaded by the files before them.
      'test/durable/fdOpsFaults.test.ts', 'test/durable/writerThreadFlags.test.ts', 'test/monitor/dashboardAssets.test.ts',
      'test/cli/demoRun.test.ts',
    ],
    // SRX_HOLDS_RUNS_PERCENT: the laws' properties that must hold run a fifth of their runs (at least 10); see
    // test/support/propertyRuns.ts and what it means for the score in docs/testing.md. Survivors are re-checked with
    // SRX_HOLDS_RUNS_PERCENT=100 in the environment of `npx stryker run`.
    env: { TMPDIR: fastTmp, SRX_HOLDS_RUNS_PERCENT: process.env.SRX_HOLDS_RUNS_PERCENT ?? '20' },
    sequence: { sequencer: QuickFirst },
    // One module graph for all test files of a run: importing the engine and its libraries again for every file took
    // most of each mutant's time. Static mutants (code run only while a module loads) are therefore not tested; see
    // `ignoreStatic` in stryker.config.mjs.
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
})
