/**
 * Reading a file in chunks through two buffers that take turns: while the reader works on one chunk, the next is
 * already being read into the other. A restore of a large state snapshot reads tens of megabytes this way without
 * allocating a buffer per chunk: on the benchmark VM each fresh buffer costs first-touch page faults, and a
 * read stream's new buffer per chunk adds up to the file's size in external memory, which makes V8 start a full
 * garbage collection.
 */
import * as fs from 'node:fs'
import { closeFd, openFd } from './fdOps.js'

/** Reads the next bytes of `fd` into `buffer`; a failure is also handled at once, so it is never unhandled while no one awaits it yet. */
function readInto(fd: number, buffer: Buffer): Promise<number> {
  const read = new Promise<number>((resolve, reject) =>
    fs.read(fd, buffer, 0, buffer.length, null, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
  )
  read.catch(() => undefined)
  return read
}

/**
 * The file at `path` as chunks of at most `chunkBytes` bytes, in order. A chunk is valid only until the next one is
 * asked for: its bytes are then overwritten by the read after it.
 * @example for await (const chunk of readChunksReusing('/ckpt/state/count/10.snapshot', 1 << 20)) crc = crc32(chunk, crc)
 * @throws the Node error of open(2) or read(2), `code` preserved ('ENOENT', 'EISDIR', 'EIO', …).
 */
export async function* readChunksReusing(path: string, chunkBytes: number): AsyncIterable<Uint8Array> {
  const fd = await openFd(path, 'r')
  const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)]
  let next: Promise<number> | undefined = readInto(fd, buffers[0]!)
  try {
    for (let turn = 0; ; turn ^= 1) {
      const bytesRead = await next
      if (bytesRead === 0) {
        next = undefined
        return
      }
      next = readInto(fd, buffers[turn ^ 1]!)
      yield buffers[turn]!.subarray(0, bytesRead)
    }
  } finally {
    // The descriptor must outlive a read still in flight (the consumer stopped early or a read failed).
    await next?.catch(() => undefined)
    await closeFd(fd)
  }
}
