import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli, USAGE } from '../../src/cli/cli.js'
import { captureIo } from './support.js'

const run = promisify(execFile)
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts')

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-main-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function cli(...argv: string[]) {
  const io = captureIo()
  const code = await runCli(argv, io)
  return { code, out: io.stdout(), err: io.stderr() }
}

describe('structured-rx command line', () => {
  it('prints the usage on --help, and on stderr with exit code 2 without a command', async () => {
    expect(await cli('--help')).toEqual({ code: 0, out: USAGE, err: '' })
    expect(await cli()).toEqual({ code: 2, out: '', err: USAGE })
    for (const command of ['demo', 'inspect', 'state', 'rescale']) {
      const help = await cli(command, '--help')
      expect(help.code).toBe(0)
      expect(help.out).toMatch(new RegExp(`^Usage: structured-rx ${command} `))
    }
  })

  it('prints the package version', async () => {
    expect(await cli('--version')).toEqual({ code: 0, out: '0.1.0\n', err: '' })
  })

  it('answers a wrong command line with exit code 2, the reason and a pointer to --help', async () => {
    expect(await cli('frobnicate')).toEqual({ code: 2, out: '', err: "structured-rx: unknown command 'frobnicate'\nRun 'structured-rx --help' for usage.\n" })
    const unknownOption = await cli('inspect', dir, '--jsn')
    expect(unknownOption.code).toBe(2)
    expect(unknownOption.err).toMatch(/^structured-rx: Unknown option '--jsn'.*\nRun 'structured-rx inspect --help' for usage\.\n$/)
    expect((await cli('rescale', dir, '--partitions', '0')).err).toContain('structured-rx: --partitions must be an integer ≥ 1, got \'0\'\n')
    expect((await cli('inspect')).err).toContain('structured-rx: inspect: missing <checkpoint>\n')
  })
})

describe('the structured-rx executable', () => {
  it('runs the demo with its defaults: it serves the dashboard, ends by itself and exits 0', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', MAIN, 'demo'], { timeout: 180_000 })
    expect(stderr).toBe('')
    expect(stdout).toContain('data        ')
    expect(stdout).toContain(': 2000 rows/s for 15 s')
    expect(stdout).toMatch(/^dashboard {3}http:\/\/127\.0\.0\.1:\d+\//m)
    expect(stdout).toMatch(/^counts match the data: \d+ rows in \d+ files/m)
    expect(stdout).toMatch(/^stopped after batch \d+ of activity_counts\.$/m)
  })

  it("names a failure's error class unless it is the library's or the system's, on one line", async () => {
    // `inspect --help` writes through io.out, so an io that throws makes the command fail with that error.
    const failingWith = async (thrown: unknown) => {
      const io = captureIo()
      const code = await runCli(['inspect', '--help'], {
        ...io,
        out: () => {
          throw thrown
        },
      })
      return { code, err: io.stderr() }
    }
    expect(await failingWith(new TypeError('cannot write\n  to a closed stream\n'))).toEqual({
      code: 1,
      err: 'structured-rx: TypeError: cannot write to a closed stream\n',
    })
    expect(await failingWith(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toEqual({ code: 1, err: 'structured-rx: write EPIPE\n' })
    expect(await failingWith(Object.assign(new Error('odd'), { code: 5 }))).toEqual({ code: 1, err: 'structured-rx: Error: odd\n' })
    expect(await failingWith('a plain string')).toEqual({ code: 1, err: 'structured-rx: a plain string\n' })
  })

  it('exits 1 with a one-line reason and no stack trace when a command fails', async () => {
    const error = await run(process.execPath, ['--import', 'tsx', MAIN, 'inspect', join(dir, 'missing')]).then(
      () => undefined,
      (e: unknown) => e as { code: number; stdout: string; stderr: string },
    )
    expect(error).toMatchObject({ code: 1, stdout: '', stderr: `structured-rx: ${join(dir, 'missing')} does not exist\n` })
  })
})
