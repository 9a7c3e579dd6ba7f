/**
 * Shared plumbing of the server fixtures: a free loopback port, a child server process that can be stopped and
 * started again on the same port and data directory, and a wait-until-ready loop.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'

/** A TCP port nobody listens on right now (the OS picks it; a tiny race with other processes remains). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Fails with a message saying how to install the server, never skips: a test without its server must not pass. */
export function requireBinary(binary: string, debianPackage: string): void {
  const probe = spawnSync(binary, ['--version'], { stdio: 'ignore' })
  if (probe.error !== undefined) {
    throw new Error(
      `${binary} is not installed: the connector tests start a real server. Install it with ` +
        `'apt-get install -y ${debianPackage}' (.ci/run does this when it is absent).`,
    )
  }
}

/** A server child process: `start()` spawns it and waits until `ready()` answers; `stop()` kills it. */
export class ServerProcess {
  private child: ChildProcess | undefined
  private output = ''

  constructor(
    private readonly name: string,
    private readonly binary: string,
    private readonly args: readonly string[],
    private readonly ready: () => Promise<boolean>,
  ) {}

  get running(): boolean {
    return this.child !== undefined
  }

  async start(timeoutMs = 20_000): Promise<void> {
    if (this.child !== undefined) throw new Error(`${this.name} is already running`)
    this.output = ''
    const child = spawn(this.binary, this.args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString('utf8')).slice(-4000))
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    let exited: string | undefined
    child.once('exit', (code, signal) => {
      exited = `${code ?? signal}`
      // A server that dies while a test still uses it fails that test with "connection refused": say why it died.
      if (this.child === child) {
        this.child = undefined
        console.error(`${this.name} exited on its own (${exited}); its last output:\n${this.output}`)
      }
    })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (exited !== undefined) throw new Error(`${this.name} exited (${exited}) while starting:\n${this.output}`)
      if (await this.ready().catch(() => false)) return
      if (Date.now() > deadline) {
        await this.stop()
        throw new Error(`${this.name} did not become ready within ${timeoutMs} ms:\n${this.output}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Kills the server (SIGKILL by default, as a crash; SIGTERM for a clean shutdown) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.child = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill(signal)
    })
  }
}
