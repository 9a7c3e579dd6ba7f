/** Shared by the command-line tests: captured output, and a checkpointed groupBy-count query to run and restart. */
import * as t from 'io-ts'
import { count, createSession, groupBy, memorySink, memorySource, type MemorySink, type MemorySource } from '../../src/index.js'
import { runCli } from '../../src/cli/cli.js'
import type { CliIo } from '../../src/cli/io.js'
import type { StateRow } from '../../src/cli/state.js'

/** A {@link CliIo} that keeps what a command writes. */
export interface CapturedIo extends CliIo {
  readonly stdout: () => string
  readonly stderr: () => string
}

export function captureIo(): CapturedIo {
  let out = ''
  let err = ''
  return {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    stdout: () => out,
    stderr: () => err,
  }
}

export interface Click {
  readonly user: string
}

/**
 * `groupBy(user) → count()` in update mode on one memory source and one memory sink for all its runs, so the sink's
 * table is the query's whole result however often it restarts; each `run` is a new session (a restarted process).
 */
export function countQuery(checkpointLocation: string) {
  const input: MemorySource<Click> = memorySource<Click>({ name: 'clicks' })
  const sink: MemorySink<{ key: string; count: number }> = memorySink()
  const warnings: string[] = []
  const expected = new Map<string, number>()
  return {
    input,
    sink,
    warnings,
    /** Adds rows to the source and to the expected counts. */
    add(users: readonly string[]) {
      for (const user of users) expected.set(user, (expected.get(user) ?? 0) + 1)
      input.addData(users.map((user) => ({ user })))
    },
    /** What the sink's table must be. */
    expected: () => [...expected].map(([key, n]) => ({ key, count: n })).sort((a, b) => a.key.localeCompare(b.key)),
    table: () => sink.rows().slice().sort((a, b) => a.key.localeCompare(b.key)),
    start(shufflePartitions: number) {
      return createSession({ shufflePartitions, snapshotInterval: 3, warn: (m) => warnings.push(m) })
        .readStream(input.source)
        .pipe(groupBy((r: Click) => r.user, t.string), count())
        .writeStream({ outputMode: 'update', checkpointLocation, queryName: 'clicks', sink })
        .start()
    },
  }
}

/** `n` users named u0…u(n-1), each `times` times, interleaved. */
export function users(n: number, times = 1, prefix = 'u'): string[] {
  return Array.from({ length: n * times }, (_, i) => `${prefix}${i % n}`)
}

/** Runs the query on `partitions` partitions over each batch of users in turn, then stops it. */
export async function runOn(query: ReturnType<typeof countQuery>, partitions: number, batches: string[][]): Promise<void> {
  const q = await query.start(partitions)
  for (const batch of batches) {
    query.add(batch)
    await q.processAllAvailable()
  }
  await q.stop()
}

/** Runs `structured-rx state <dir> …args`: the exit code, the state rows it printed, its whole output and stderr. */
export async function runStateCommand(dir: string, ...args: string[]) {
  const io = captureIo()
  const code = await runCli(['state', dir, ...args], io)
  const rows = io.stdout().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as StateRow)
  return { code, rows, out: io.stdout(), err: io.stderr() }
}
