/**
 * Cluster members as child processes, for the e2e tests of clusters: each prints `tasks <i,…>` whenever the tasks it
 * runs change; the test waits on what they said and kills, pauses or stops them. Every member is killed after the test.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterEach } from 'vitest'
import { natsTestClient } from '../connectors/natsHelpers.js'
import { startNats } from '../support/servers/nats.js'
import { startRedis } from '../support/servers/redis.js'

const repoRoot = join(import.meta.dirname, '..', '..')

/** A member process and what it last said. */
export interface Member {
  readonly child: ChildProcess
  /** The tasks it last said it runs. */
  tasks: number[]
  stderr: string
  readonly exited: Promise<number | null>
}

/**
 * The members a test file starts, and its cleanups (run after each test, last first).
 * @example const { start, until, cleanups } = memberProcesses(); const m = start(script, [url, dir])
 */
export function memberProcesses() {
  const cleanups: (() => Promise<unknown>)[] = []
  const spawned: Member[] = []
  afterEach(async () => {
    spawned.splice(0)
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
  })

  /** Starts `node --import tsx <script> <args…>` from the repository's root. */
  function start(script: string, args: readonly string[]): Member {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const member: Member = { child, tasks: [], stderr: '', exited }
    spawned.push(member)
    let buffered = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) if (line.startsWith('tasks ')) member.tasks = line.slice(6).split(',').filter((s) => s !== '').map(Number)
    })
    child.stderr!.on('data', (chunk: Buffer) => (member.stderr += chunk.toString('utf8')))
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT')
        child.kill('SIGKILL')
      }
      await exited
    })
    return member
  }

  /** Waits until `condition` holds; on timeout, fails with every member's tasks, exit and stderr. */
  async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await condition())) {
      if (Date.now() > deadline) {
        const states = spawned.map((m, i) => `member ${i}: tasks [${m.tasks}], exit ${m.child.exitCode ?? m.child.signalCode}; stderr: ${m.stderr.slice(-2000)}`)
        throw new Error(`timed out waiting until ${what}\n${states.join('\n')}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /**
   * A real nats-server with the JetStream `streams` (name → subjects) and a real redis-server, a client of each, and
   * a temp directory named after `prefix`; all closed and removed after the test. `drops` makes the servers close
   * the connections of a client that stopped answering pings (NATS) or stayed idle (Redis) that long.
   */
  async function brokers(prefix: string, streams: Record<string, string[]>, drops: { natsPingIntervalMs?: number; redisIdleTimeoutS?: number } = {}) {
    const nats = await startNats({ pingIntervalMs: drops.natsPingIntervalMs })
    cleanups.push(() => nats.close())
    const redisServer = await startRedis({ idleTimeoutS: drops.redisIdleTimeoutS })
    cleanups.push(() => redisServer.close())
    const client = await natsTestClient(nats.url)
    cleanups.push(() => client.close())
    for (const [name, subjects] of Object.entries(streams)) await client.addStream(name, subjects)
    const redis = new Redis(redisServer.url)
    cleanups.push(() => redis.quit())
    const root = await mkdtemp(join(tmpdir(), prefix))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    return { natsUrl: nats.url, redisUrl: redisServer.url, client, redis, root }
  }

  return { start, until, brokers }
}

/**
 * Whether every one of `tasks` tasks is run by exactly one of `members`.
 * @example covered(members, 4)
 */
export function covered(members: readonly Member[], tasks: number): boolean {
  const all = members.flatMap((m) => m.tasks).sort((a, b) => a - b)
  return all.length === tasks && new Set(all).size === tasks
}
