import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { defineConfig } from 'vitest/config'

/**
 * Temp directories on tmpfs when the machine has one: most tests write checkpoints with fsync and atomic renames,
 * which cost milliseconds each on a disk and nothing in memory, and mutation testing runs them once per mutant.
 * Every test makes its directories under `os.tmpdir()`, which reads TMPDIR.
 */
const fastTmp = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()

/**
 * The suite as mutation testing runs it (stryker.config.mjs picks the files per mutated folder): without the tests
 * that start the demo or kill child processes, and without the crash-law properties, which take tens of seconds
 * each; docs/testing.md says what that leaves out.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/cli/demo.test.ts', 'test/laws/exactlyOnce.test.ts'],
    env: { TMPDIR: fastTmp },
    // One module graph for all test files of a run: importing the engine and its libraries again for every file took
    // most of each mutant's time. Static mutants (code run only while a module loads) are therefore not tested; see
    // `ignoreStatic` in stryker.config.mjs.
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
})
