/**
 * The life cycle the log-server fixtures share: a data directory in tmp, a free port, start and wait until ready,
 * restart on the same port and data (a broker that went away for a moment), close and clean up.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeLoopbackPort, requireBinary, ServerProcess } from './ports.js'

export interface ManagedServer {
  /** `<scheme>://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  readonly process: ServerProcess
  /** The server's data directory (removed by `close`). */
  readonly dir: string
  /** Kills the server and starts it again on the same port and data, after `downMs`. */
  restart(downMs?: number): Promise<void>
  /** Stops the server and removes its data. */
  close(): Promise<void>
}

/** Starts `binary` (from Debian package `debianPackage`) with the arguments for its data dir and port. */
export async function startManaged(spec: {
  readonly binary: string
  readonly debianPackage: string
  readonly scheme: string
  args(dir: string, port: number): string[]
  ready(port: number): Promise<boolean>
}): Promise<ManagedServer> {
  requireBinary(spec.binary, spec.debianPackage)
  const dir = await mkdtemp(join(tmpdir(), `srx-${spec.binary}-`))
  const port = await freeLoopbackPort()
  const server = new ServerProcess(spec.binary, spec.binary, spec.args(dir, port), () => spec.ready(port))
  try {
    await server.start()
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  return {
    url: `${spec.scheme}://127.0.0.1:${port}`,
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
