/**
 * A real PostgreSQL server for a test: `initdb` into a temp dir, `pg_ctl start` on a free loopback port with its
 * unix socket in the same dir, stopped and removed by `close()`. Tests run as root and PostgreSQL refuses to, so the
 * server runs as the `postgres` OS user (the temp dir is handed to it).
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freeLoopbackPort } from './ports.js'

const run = promisify(execFile)

/** A running (or stopped, between `stop()` and `start()`) PostgreSQL server. */
export interface PostgresServer {
  readonly port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication on loopback). */
  readonly connectionString: string
  /** Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): clients see their connections drop. */
  stop(): Promise<void>
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>
  /** Stops the server (if running) and removes its data. */
  close(): Promise<void>
}

/** The directory of `initdb` and `pg_ctl`: Debian's versioned one, or the PATH. */
function binDir(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : []
  versions.sort((a, b) => Number(b) - Number(a))
  if (versions[0] !== undefined) return join(root, versions[0], 'bin')
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir !== '' && existsSync(join(dir, 'pg_ctl'))) return dir
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/<version>/bin or on the PATH: ' +
      'install them with `apt-get install -y postgresql` (.ci/run does this)',
  )
}

const asRoot = process.getuid?.() === 0

/** Runs a server binary as the `postgres` user when we are root (PostgreSQL refuses to run as root). */
async function runServerTool(bin: string, args: string[]): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  try {
    const { stdout } = await run(file, argv, { maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; message: string }
    throw new Error(`${bin} ${args.join(' ')} failed: ${e.stderr || e.message}`)
  }
}

async function handToPostgresUser(dir: string): Promise<void> {
  if (!asRoot) return
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
  await chown(dir, uid, gid)
}

/**
 * Creates a cluster in a temp dir and starts it on a free port; resolves once it accepts connections.
 * @example
 * const pg = await startPostgres()
 * try { const pool = new Pool({ connectionString: pg.connectionString }) } finally { await pg.close() }
 * @throws when the binaries are missing (naming the package to install) or initdb / pg_ctl fail (with their output).
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir()
  const dir = await mkdtemp(join(tmpdir(), 'srx-postgres-'))
  const dataDir = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  const port = await freeLoopbackPort()
  const pgCtl = join(bin, 'pg_ctl')
  // Durability of the server itself is not under test (it is stopped, never its machine), so skip its fsyncs.
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`
  let running = false
  const server: PostgresServer = {
    port,
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      try {
        await runServerTool(pgCtl, ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start'])
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '')
        throw new Error(`${(error as Error).message}\nserver log:\n${log}`)
      }
      running = true
    },
    async stop() {
      if (!running) return
      await runServerTool(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
      running = false
    },
    async close() {
      await server.stop().catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
  try {
    await handToPostgresUser(dir)
    await runServerTool(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
    await server.start()
  } catch (error) {
    await server.close()
    throw error
  }
  return server
}
