/**
 * A real `redis-server` for tests: append-only file in a temp dir, on a free loopback port. `restart()` brings it
 * back on the same port and data, as a broker that went away for a moment.
 * @example const redis = await startRedis(); … await redis.close()
 */
import { connect } from 'node:net'
import { type ManagedServer, startManaged } from './managed.js'

export type RedisServer = ManagedServer

/** With `idleTimeoutS`, the server closes a client connection idle that long (Redis' `timeout`), as a stopped client's. */
export function startRedis(options: { readonly idleTimeoutS?: number } = {}): Promise<RedisServer> {
  const idle = options.idleTimeoutS === undefined ? [] : ['--timeout', String(options.idleTimeoutS)]
  return startManaged({
    binary: 'redis-server',
    debianPackage: 'redis-server',
    scheme: 'redis',
    args: (dir, port) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', ...idle],
    ready: pingAnswers,
  })
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
