import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Crash and SIGKILL tests use real fsync-heavy I/O; two workers match the CI machine's two cores.
    maxWorkers: 2,
  },
})
