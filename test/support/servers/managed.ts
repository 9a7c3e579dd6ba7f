/**
 * The life cycle the server fixtures share: a data directory in tmp, a free port, start and wait until ready,
 * restart on the same port and data (a broker that went away for a moment), close and clean up; and `useServer`,
 * one server (and a client of it) for all the tests of a file.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
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

/** A file's server and its client, as `useServer` gives them: set from `beforeAll` on. */
export interface ServerFixture<S, C> {
  readonly server: S
  readonly client: C
}

/**
 * One server for all the tests of a file: `start` runs in `beforeAll` (with `client` made from the server, when
 * given), and `afterAll` closes the client (`closeClient`), then the server. The fixture's fields throw if read
 * before the server started, rather than hand a test `undefined`.
 * @example const nats = useServer(startNats, { client: (s) => natsTestClient(s.url), closeClient: (c) => c.close() })
 */
export function useServer<S extends { close(): Promise<void> }, C = undefined>(
  start: () => Promise<S>,
  options: { readonly client?: (server: S) => C | Promise<C>; readonly closeClient?: (client: C) => unknown; readonly timeoutMs?: number } = {},
): ServerFixture<S, C> {
  let started: { server: S; client: C } | undefined
  let server: S | undefined
  beforeAll(async () => {
    server = await start()
    started = { server, client: (await options.client?.(server)) as C }
  }, options.timeoutMs ?? 60_000)
  afterAll(async () => {
    if (started !== undefined) await options.closeClient?.(started.client)
    await server?.close()
  })
  const get = (): { server: S; client: C } => {
    if (started === undefined) throw new Error('useServer: the server is not started yet (use it inside a test or a hook)')
    return started
  }
  return {
    get server() {
      return get().server
    },
    get client() {
      return get().client
    },
  }
}
