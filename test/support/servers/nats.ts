/**
 * A real `nats-server` with JetStream for tests: data in a temp dir, on a free loopback port. `restart()` brings it
 * back on the same port and store, as a broker that went away for a moment.
 * @example const nats = await startNats(); … await nats.close()
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeLoopbackPort, requireBinary, ServerProcess } from './ports.js'

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`, the `servers` option of the connectors. */
  readonly url: string
  readonly port: number
  readonly process: ServerProcess
  /** The server's data directory (removed by `close`). */
  readonly dir: string
  /** Kills the server and starts it again on the same port and store. */
  restart(downMs?: number): Promise<void>
  /** Stops the server and removes its store. */
  close(): Promise<void>
}

export async function startNats(): Promise<NatsServer> {
  requireBinary('nats-server', 'nats-server')
  const dir = await mkdtemp(join(tmpdir(), 'srx-nats-'))
  const port = await freeLoopbackPort()
  const server = new ServerProcess('nats-server', 'nats-server', ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], () =>
    jetStreamAnswers(port),
  )
  try {
    await server.start()
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  return {
    url: `nats://127.0.0.1:${port}`,
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
