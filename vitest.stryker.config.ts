import { defineConfig } from 'vitest/config'

/**
 * The suite as mutation testing runs it, once per mutant: without the tests that start real servers, browsers or
 * child processes (their setup dominates and they guard other layers), and without the crash-law properties, which
 * take tens of seconds each; docs/testing.md says what that leaves out.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/cli/demo.test.ts', 'test/laws/exactlyOnce.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    // Some tests change the working directory, which worker threads cannot.
    pool: 'forks',
  },
})
