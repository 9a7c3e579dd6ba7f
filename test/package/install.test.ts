import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const repo = resolve(import.meta.dirname, '../..')
const bin = (pkg: string, file: string) => join(repo, 'node_modules', pkg, file)

/**
 * The floor of each peer range in package.json: the app brings these, not the versions the repo develops with, so
 * the test proves the library runs and type-checks on the app's own copies.
 */
const APP_PEERS = ['rxjs@7.8.0', 'io-ts@2.2.20', 'fp-ts@2.16.0', 'fast-check@4.0.0']
/** A Node app has Node's types; the library's declarations use them (Buffer, streams). */
const APP_DEV = ['@types/node@20']

/** An app as a user writes it: plain node, the three entries. */
const MAIN_MJS = `
import * as t from 'io-ts'
import { createSession, memorySource, filter, groupBy, count, trigger } from 'structured-rx'
import { arbitraryFromCodec, incrementalMatchesReference } from 'structured-rx/laws'
import { faultyFs, countingFs, SimulatedCrash } from 'structured-rx/testing'
import { createRequire } from 'node:module'
import fc from 'fast-check'

const session = createSession({ shufflePartitions: 2 })
const input = memorySource()
const query = await session
  .readStream(input.source)
  .pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count())
  .writeStream({ outputMode: 'complete', queryName: 'counts', sink: (await import('structured-rx')).memorySink() })
  .start()
input.addData([{ gt: 'walk' }, { gt: 'null' }, { gt: 'walk' }, { gt: 'sit' }])
await query.processAllAvailable()
await query.stop()

// A codec made with the repo's own io-ts (another version than the app's): the laws must not care which copy.
const other = createRequire(process.env.REPO + '/package.json')('io-ts')
const State = other.type({ total: other.number, n: other.number })
const sample = fc.sample(arbitraryFromCodec(State), 3)

console.log(JSON.stringify({
  table: session.table('counts'),
  ioTsVersion: createRequire(import.meta.url)('io-ts/package.json').version,
  otherIoTsIsAnotherCopy: other.NumberType !== t.NumberType,
  sampleOk: sample.every((s) => State.is(s)),
  laws: typeof incrementalMatchesReference,
  testing: [typeof faultyFs, typeof countingFs, typeof SimulatedCrash],
  trigger: typeof trigger.once,
}))
`

/** A small typed query: must type-check with the app's io-ts, rxjs and fast-check. */
const QUERY_TS = `
import * as t from 'io-ts'
import { from } from 'rxjs'
import { createSession, memorySource, memorySink, groupBy, sum, count, postgresSink, type Grouped, type Stream } from 'structured-rx'

interface PageView { readonly page: string; readonly ms: number }
const totalMs = sum((r: PageView) => r.ms)
export function viewsPerPage(s: Stream<PageView>) {
  return s.pipe(groupBy((r) => r.page, t.string), count())
}
export async function main(): Promise<Array<{ key: string; count: number }>> {
  const session = createSession()
  const input = memorySource<PageView>()
  const sink = memorySink<{ key: string; count: number }>()
  const query = await viewsPerPage(session.readStream(input.source)).writeStream({ outputMode: 'complete', sink }).start()
  input.addData([{ page: '/', ms: 3 }])
  await query.processAllAvailable()
  await query.stop()
  from([{ page: '/', ms: 1 }]).pipe(groupBy((r) => r.page, t.string), totalMs).subscribe((row: { sum: number }) => row)
  const g: Grouped<string, PageView> = { key: '/', value: { page: '/', ms: 1 } }
  void g
  // The connector signatures are usable without the connectors' own packages installed.
  void postgresSink<{ key: string; count: number }>({ connectionString: 'postgres://app@db/analytics', table: 'counts' })
  // The types are real, not any: a wrong one is an error (an unused @ts-expect-error would be one too).
  // @ts-expect-error: the function of sum must return a number
  sum((r: { ms: string }) => r.ms)
  return sink.rows()
}
`

/** One law, in a vitest file exactly as docs/laws.md tells users to write it. */
const LAW_TEST_TS = `
import fc from 'fast-check'
import * as t from 'io-ts'
import { it } from 'vitest'
import { count, filter, groupBy, type Stream } from 'structured-rx'
import { incrementalMatchesReference, type QueryUnderTest } from 'structured-rx/laws'

type Activity = { gt: string; x: number }
const activityCounts: QueryUnderTest<Activity, { key: string; count: number }> = {
  build: (s: Stream<Activity>) => s.pipe(filter((r) => r.gt !== 'null'), groupBy((r) => r.gt, t.string), count()),
  outputMode: 'complete',
}
const activity = fc.array(fc.record({ gt: fc.constantFrom('sit', 'walk', 'null'), x: fc.integer() }))

it('activity counts are the same for every split into micro-batches', async () => {
  await fc.assert(incrementalMatchesReference({ query: activityCounts, input: activity }), { numRuns: 30 })
})
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noEmit: true,
    // Every declaration file is checked, the library's included: they must not need the types of optional peers
    // (pg, @aws-sdk/client-s3, ioredis, @nats-io/*) that an app not using those connectors never installs.
    skipLibCheck: false,
  },
  include: ['query.ts', 'law.test.ts'],
}

describe('the packed library installed into an app with its own rxjs, io-ts, fp-ts and fast-check', () => {
  let dir = ''
  let app = ''
  let tarball = ''
  let files: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srx-pack-'))
    app = join(dir, 'app')
    // npm pack runs `prepare` (the build) and lists what the tarball holds.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repo, maxBuffer: 64 << 20 })
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }]
    tarball = join(dir, packed.filename)
    files = packed.files.map((f) => f.path)
    await mkdir(app)
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...APP_PEERS, ...APP_DEV], {
      cwd: app,
      maxBuffer: 64 << 20,
    })
    // The test runner is the repo's; everything the app imports is the app's own.
    await symlink(join(repo, 'node_modules', 'vitest'), join(app, 'node_modules', 'vitest'), 'dir')
    await writeFile(join(app, 'main.mjs'), MAIN_MJS)
    await writeFile(join(app, 'query.ts'), QUERY_TS)
    await writeFile(join(app, 'law.test.ts'), LAW_TEST_TS)
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG))
  }, 600_000)

  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('the tarball ships the built entries and the docs, not the tests', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/laws/index.js', 'dist/src/testing.js', 'dist/src/cli/main.js', 'README.md']) {
      expect(files).toContain(f)
    }
    expect(files.filter((f) => f.startsWith('test/'))).toEqual([])
  })

  it('installs the peers as the app pinned them, one copy each', async () => {
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
    const copies = (name: string) => Object.keys(lock.packages).filter((p) => p.endsWith(`node_modules/${name}`))
    for (const spec of APP_PEERS) {
      const [name, version] = spec.split(/@(?=[^@]*$)/) as [string, string]
      expect(copies(name)).toEqual([`node_modules/${name}`])
      expect(lock.packages[`node_modules/${name}`]!.version).toBe(version)
    }
  })

  it('plain node imports structured-rx, structured-rx/laws and structured-rx/testing and runs a query', async () => {
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app, env: { ...process.env, REPO: repo } })
    expect(JSON.parse(stdout)).toEqual({
      table: [{ key: 'walk', count: 2 }, { key: 'sit', count: 1 }],
      ioTsVersion: '2.2.20',
      otherIoTsIsAnotherCopy: true,
      sampleOk: true,
      laws: 'function',
      testing: ['function', 'function', 'function'],
      trigger: 'function',
    })
  })

  it('installs none of the optional connector peers or their types', async () => {
    const modules = await readdir(join(app, 'node_modules'))
    for (const absent of ['pg', '@types/pg', 'ioredis', 'pg-protocol']) expect(modules).not.toContain(absent)
    expect(modules.includes('@aws-sdk') || modules.includes('@nats-io')).toBe(false)
  })

  it('a typed query and a law test type-check with tsc against the installed types, with skipLibCheck off', async () => {
    const tsc = await run(process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json'], { cwd: app }).catch((e: { stdout: string }) => e)
    expect('stdout' in tsc ? tsc.stdout : '').toBe('')
  })

  it('one law runs under vitest in the app', async () => {
    const { stdout } = await run(process.execPath, [bin('vitest', 'vitest.mjs'), 'run', '--root', app, '--reporter', 'verbose'], {
      cwd: app,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
    })
    expect(stdout).toMatch(/✓ .*activity counts are the same for every split into micro-batches/)
    expect(stdout).toMatch(/Tests\s+1 passed/)
  })
})
