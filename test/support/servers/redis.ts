/**
 * A real `redis-server` for tests: append-only file in a temp dir, on a free loopback port. `restart()` brings it
 * back on the same port and data, as a broker that went away for a moment.
 * @example const redis = await startRedis(); … await redis.close()
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeLoopbackPort, requireBinary, ServerProcess } from './ports.js'

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, the `url` option of the connectors. */
  readonly url: string
  readonly port: number
  readonly process: ServerProcess
  /** The server's data directory (removed by `close`). */
  readonly dir: string
  /** Kills the server and starts it again on the same port and data. */
  restart(downMs?: number): Promise<void>
  /** Stops the server and removes its data. */
  close(): Promise<void>
}

export async function startRedis(): Promise<RedisServer> {
  requireBinary('redis-server', 'redis-server')
  const dir = await mkdtemp(join(tmpdir(), 'srx-redis-'))
  const port = await freeLoopbackPort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes']
  const server = new ServerProcess('redis-server', 'redis-server', args, () => pingAnswers(port))
  try {
    await server.start()
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: server,
    dir,
    async restart(downMs = 0) {
      await server.stop()
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await server.start()
    },
    async close() {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Ready when PING answers PONG (not LOADING while the append-only file is replayed). */
function pingAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => done(chunk.toString('utf8').startsWith('+PONG')))
  })
}
