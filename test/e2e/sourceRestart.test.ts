/**
 * Real-process restarts of a file query whose input would once fail every restart: a backlog of more files than the
 * process may open, an input file deleted after its batch was logged, a file larger than the longest string V8 can
 * hold. Each query runs in a child process (`fileQuery.ts`) and is restarted on the same checkpoint.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { readJsonFilesSink } from '../../src/index.js'
import { BIG_FILE_BYTES, LINE_BYTES, roomForBigFile, writeBigFile } from '../sources/bigFile.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '..', '..')
const script = join(here, 'fileQuery.ts')

const created: string[] = []
const running = new Set<ChildProcess>()
afterEach(async () => {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function layout() {
  const root = await mkdtemp(join(tmpdir(), 'srx-restart-'))
  created.push(root)
  const dirs = { input: join(root, 'input'), out: join(root, 'out'), checkpoint: join(root, 'checkpoint') }
  await mkdir(dirs.input)
  return dirs
}

/** Runs the query to its end in a child process, with at most `maxOpenFiles` file descriptors if given. */
function runQuery(dirs: { input: string; out: string; checkpoint: string }, flags: string[] = [], maxOpenFiles?: number) {
  const args = ['--import', 'tsx', script, dirs.input, dirs.out, dirs.checkpoint, ...flags]
  const child =
    maxOpenFiles === undefined
      ? spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `ulimit -n ${maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child)
      resolve({ code, stderr })
    }),
  )
  return { child, exited }
}

const room = await roomForBigFile(tmpdir())
const rowsOf = (ids: number[]) => ids.map((id) => JSON.stringify({ id })).join('\n') + '\n'
const idsIn = async (out: string) => (await readJsonFilesSink<{ id: number }>(out)).map((r) => r.id).sort((a, b) => a - b)

describe('restarting a file query in a real process', () => {
  it('reads a batch of more files than the process may open at once', async () => {
    const dirs = await layout()
    const files = 600
    await Promise.all(Array.from({ length: files }, (_, i) => writeFile(join(dirs.input, `f-${String(i).padStart(4, '0')}.json`), rowsOf([i]))))
    const run = await runQuery(dirs, [], 256).exited
    expect(run.stderr).not.toMatch(/EMFILE/)
    expect(run.code).toBe(0)
    expect(await idsIn(dirs.out)).toEqual(Array.from({ length: files }, (_, i) => i))
  }, 120_000)

  it('names an input file deleted after its batch was logged on every restart, and skips it with ignoreMissingFiles', async () => {
    const dirs = await layout()
    await writeFile(join(dirs.input, 'a.json'), rowsOf([1, 2]))
    await writeFile(join(dirs.input, 'b.json'), rowsOf([3, 4]))
    // The first run logs batch 0 and is killed inside the sink, before anything commits.
    const first = runQuery(dirs, ['--hang-in-sink'])
    while (!(await readdir(join(dirs.checkpoint, 'offsets')).catch((): string[] => [])).includes('0')) await new Promise((r) => setTimeout(r, 50))
    first.child.kill('SIGKILL')
    await first.exited
    await unlink(join(dirs.input, 'b.json'))
    for (let attempt = 0; attempt < 2; attempt++) {
      const failed = await runQuery(dirs).exited
      expect(failed.code).toBe(1)
      expect(failed.stderr).toContain(join(dirs.input, 'b.json'))
      expect(failed.stderr).toContain('ignoreMissingFiles')
    }
    expect((await runQuery(dirs, ['--ignore-missing-files']).exited).code).toBe(0)
    expect(await idsIn(dirs.out)).toEqual([1, 2])
    // The skip is in the checkpoint: a later run without the option has nothing to redo.
    const later = await runQuery(dirs).exited
    expect(later.code).toBe(0)
    expect(await idsIn(dirs.out)).toEqual([1, 2])
  }, 120_000)

  it.skipIf(!room)('reads a file larger than 512 MiB', async () => {
    const dirs = await layout()
    const rows = BIG_FILE_BYTES / LINE_BYTES
    await writeBigFile(join(dirs.input, 'big.json'), rows)
    const run = await runQuery(dirs).exited
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(await idsIn(dirs.out)).toEqual(Array.from({ length: rows }, (_, i) => i))
  }, 300_000)
})
