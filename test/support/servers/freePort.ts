/** A free TCP port on the loopback interface, for a server a test starts. */
import { createServer } from 'node:net'

/**
 * Asks the kernel for a free port on 127.0.0.1 and releases it. Another process could take it before the server
 * binds; the fixtures start servers right away, which makes that unlikely enough for tests.
 * @example const port = await freePort()
 * @throws the listen error if no port can be had.
 */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : undefined
      server.close(() => (port === undefined ? reject(new Error('freePort: no port assigned')) : resolve(port)))
    })
  })
}
