// Mutation testing: `npm run mutate` (all guarantee-holding folders) or `npm run mutate -- --mutate 'src/sinks/**/*.ts'`
// for one folder. Not part of .ci/run: it runs the suite once per mutant. Incremental: a rerun only tests mutants
// whose code or covering tests changed since reports/stryker-incremental.json.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.stryker.config.ts' },
  mutate: [
    'src/checkpoint/**/*.ts',
    'src/state/**/*.ts',
    'src/sinks/**/*.ts',
    'src/sources/**/*.ts',
    'src/exec/**/*.ts',
    'src/plan/**/*.ts',
  ],
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  // The machine is shared: one or two test processes at a time.
  concurrency: 2,
  timeoutMS: 60_000,
  // The first, unmutated run of the suite can take over five minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
}
