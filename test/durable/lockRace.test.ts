/**
 * Real processes racing for a stale lock: three worker processes are told at the same moment to take the lock of a
 * checkpoint whose lock names a dead process. In every trial exactly one of them wins.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeCheckpointFile } from '../../src/durable/format.js'
import { nodeFs } from '../../src/durable/fs.js'

const here = dirname(fileURLToPath(import.meta.url))
const WORKERS = 3
const TRIALS = 60

interface Worker {
  readonly child: ChildProcess
  readonly answers: Map<string, (answer: string) => void>
}

function startWorker(): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'lockRacer.ts')], {
    cwd: join(here, '..', '..'),
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const answers = new Map<string, (answer: string) => void>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [verdict, dir] = line.split(' ')
    answers.get(dir!)?.(verdict!)
  })
  return { child, answers }
}

function ask(worker: Worker, dir: string): Promise<string> {
  return new Promise((resolve) => {
    worker.answers.set(dir, resolve)
    worker.child.stdin!.write(`${dir}\n`)
  })
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  return child.pid!
}

describe('stale lock takeover by racing processes', () => {
  let root: string
  let workers: Worker[] = []
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'srx-lockrace-'))
    workers = Array.from({ length: WORKERS }, startWorker)
    // Warm-up: every worker answers once, so the races below are not spread out by start-up times.
    await Promise.all(workers.map((w, i) => ask(w, join(root, `warm-${i}`))))
  }, 60_000)
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL')
    await rm(root, { recursive: true, force: true })
  })

  it(`lets exactly one of ${WORKERS} processes take over a dead process's lock, in each of ${TRIALS} trials`, async () => {
    const pid = await deadPid()
    const outcomes: string[][] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = join(root, `trial-${trial}`)
      const stale = { pid, hostname: hostname(), runId: `killed-${trial}`, queryName: null, startedAt: '2020-01-01T00:00:00.000Z' }
      // Half the trials start from an older version's plain `lock` file, half from an epoch file of this one.
      const name = trial % 2 === 0 ? 'lock' : 'lock.7'
      await writeCheckpointFile(nodeFs, join(dir, name), JSON.stringify(name === 'lock' ? stale : { ...stale, epoch: 7 }))
      outcomes.push(await Promise.all(workers.map((w) => ask(w, dir))))
    }
    const winners = outcomes.map((o) => o.filter((v) => v === 'won').length)
    const bad = winners.map((n, trial) => ({ trial, n })).filter(({ n }) => n !== 1)
    expect(bad, `trials without exactly one winner: ${JSON.stringify(bad)}`).toEqual([])
  }, 120_000)
})
