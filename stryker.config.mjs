// Mutation testing, one folder of src/ per run: `npm run mutate -- checkpoint` (scripts/mutate.mjs sets
// SRX_MUTATE_FOLDER and runs Stryker once per folder named). Not part of .ci/run: it runs the covering tests once per
// mutant. Each folder keeps its own incremental file, so a rerun only tests mutants whose code or covering tests
// changed, and a run of one folder never discards the results of another. docs/testing.md has the scores.

/** The suites that need no server, browser or child process of their own: fast enough to run per mutant. */
const fast = [
  'test/*.test.ts',
  'test/checkpoint/**/*.test.ts',
  'test/cli/{inspect,main,rescale,state}.test.ts',
  'test/durable/{batchLog,checkpointFile,faultFs,format,fs,lock,lockFencing,lockRace}.test.ts',
  'test/exec/**/*.test.ts',
  'test/laws/{codecCopies,incremental,query,rows,upgrade}.test.ts',
  'test/operators/**/*.test.ts',
  'test/plan/**/*.test.ts',
  'test/scale/tasks.test.ts',
  'test/session/**/*.test.ts',
  'test/sinks/{consoleSink,jsonFilesSink,sinkContract}.test.ts',
  'test/sources/{fromObservable,jsonFiles,jsonFilesLargeFile,logSource,memorySource}.test.ts',
  'test/state/**/*.test.ts',
  'test/util/**/*.test.ts',
]

/**
 * The test files each folder's mutants run against: the fast suites, plus the suites with real servers for the
 * folders whose code only those servers exercise (Postgres, JetStream and Redis sinks and sources, S3).
 */
const testsOf = {
  checkpoint: fast,
  state: fast,
  plan: fast,
  // The scale-out code (clusters, workers, repartitioning) runs under the suites of test/scale. A mutant in code that
  // runs only in a worker thread or child process is never active there (Stryker switches mutants in its own process).
  exec: [...fast, 'test/scale/**/*.test.ts'],
  operators: fast,
  util: fast,
  sinks: [...fast, 'test/sinks/**/*.test.ts', 'test/connectors/**/*.test.ts'],
  // The sources' own suites beyond `fast`: they exercise only src/sources, so no other folder needs them.
  sources: [
    ...fast,
    'test/sources/{directoryLister,jsonLines,jsonFilesAppended,jsonFilesBlocks,rateSource}.test.ts',
    'test/sources/{fileLog,partitioned,inFileOrder,decodeRow}.test.ts',
    'test/sources/{memorySource,jsonLines,logSource,fileListing,fromObservable,jsonFiles}Edges.test.ts',
    // It failed now and then (a file's growth not seen) when run after other files in one module graph.
    'test/sources/jsonFilesFaults.test.ts',
    'test/connectors/**/*.test.ts',
  ],
  cli: [...fast, 'test/cli/**/*.test.ts'],
  // The dashboard's own script runs in the browser and is not mutated (only src/**/*.ts is); the browser suite checks
  // what the server sends it.
  monitor: [...fast, 'test/monitor/**/*.test.ts'],
  // The files at the top of src/ (session, stream, errors, the listener bus), named `root` here.
  root: fast,
  // The coordinators' contracts run against real NATS and Redis servers, and the clusters of test/scale use them.
  durable: [...fast, 'test/durable/**/*.test.ts', 'test/scale/**/*.test.ts', 'test/connectors/**/*.test.ts'],
}

// scripts/mutationSample.mjs runs every folder's test files at once.
export { testsOf }

const folder = process.env.SRX_MUTATE_FOLDER
if (folder === undefined || !(folder in testsOf)) {
  throw new Error(`stryker.config.mjs: run 'npm run mutate -- <folder>' with a folder among ${Object.keys(testsOf).join(', ')} (got ${folder})`)
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.stryker.config.ts' },
  mutate: folder === 'root' ? ['src/*.ts'] : [`src/${folder}/**/*.ts`],
  testFiles: testsOf[folder],
  // Each mutant runs only the tests that executed its code in the first, unmutated run.
  coverageAnalysis: 'perTest',
  // Test files share one module graph (vitest.stryker.config.ts), so a mutant in code that runs only while a module
  // loads (io-ts codec definitions, constants) would never be active: such mutants are ignored, not counted.
  ignoreStatic: true,
  incremental: true,
  // Kept in git, so that a new checkout (or the next session) re-tests only what changed since the recorded results:
  // a folder whose survivors each run minutes of covering tests takes several sessions, piece by piece.
  incrementalFile: `docs/mutation/incremental-${folder}.json`,
  // Two test processes, one per core of the shared machine (run Stryker under `nice -n 19` so that it yields to other
  // work): 1.35x the mutants a minute of one process on the same piece (docs/testing.md). tmpfs
  // (vitest.stryker.config.ts) is what makes each fast enough.
  concurrency: 2,
  // A mutant's time limit is 1.5 × its tests' unmutated time plus this margin, for a loaded machine.
  timeoutMS: 30_000,
  // The first, unmutated run of the suite can take several minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${folder}.html` },
  jsonReporter: { fileName: `reports/mutation/${folder}.json` },
  tempDirName: '.stryker-tmp',
}
