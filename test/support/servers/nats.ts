/**
 * A real `nats-server` with JetStream for tests: store in a temp dir, on a free loopback port. `restart()` brings it
 * back on the same port and store, as a broker that went away for a moment.
 * @example const nats = await startNats(); … await nats.close()
 */
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { type ManagedServer, startManaged } from './managed.js'

export type NatsServer = ManagedServer

/**
 * With `pingIntervalMs`, the server pings each client that often and closes the connection of one that missed a ping
 * (`ping_max: 1`): a client process stopped (SIGSTOP) for longer finds its connection gone when it resumes.
 */
export function startNats(options: { readonly pingIntervalMs?: number } = {}): Promise<NatsServer> {
  return startManaged({
    binary: 'nats-server',
    debianPackage: 'nats-server',
    scheme: 'nats',
    args: (dir, port) => {
      const args = ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)]
      if (options.pingIntervalMs === undefined) return args
      const config = join(dir, 'pings.conf')
      writeFileSync(config, `ping_interval: "${options.pingIntervalMs}ms"\nping_max: 1\n`)
      return ['-c', config, ...args]
    },
    ready: jetStreamAnswers,
  })
}

/** Ready when the server's INFO line says JetStream is on. */
function jetStreamAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8')
      if (text.includes('\r\n')) done(/^INFO .*"jetstream":true/.test(text))
    })
  })
}
