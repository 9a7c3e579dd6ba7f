/**
 * Fresh memory whose pages are touched first by libuv's thread pool instead of the main thread. The first write to a
 * page of fresh memory is a page fault, which on a virtual machine (the Firecracker VM the benchmarks run on) costs
 * 15–30 µs of CPU per 4 KiB page: a 12 MB array costs about 3,000 faults, 45–90 ms. Reading `/dev/zero` into the
 * memory makes the kernel take those faults on the pool thread that runs the read, on another core, while the main
 * thread goes on with other work; the memory is then used once the read has completed. Where `/dev/zero` cannot be
 * read, the memory never becomes ready and the caller allocates as usual.
 */
import * as fs from 'node:fs'

/** Reads of at most this many bytes each: Node refuses a single read above 2 GiB. */
const MAX_READ = 1 << 30

/**
 * An `ArrayBuffer` of `bytes` zero bytes being touched off the main thread. Use it only once `ready` is true: until
 * then a pool thread may still write zeros into it.
 * @example const memory = prefaulted(12 << 20); … if (memory.ready) slots = new Int32Array(memory.buffer)
 */
export interface Prefaulted {
  readonly buffer: ArrayBuffer
  /** True once every page was touched; never true when `/dev/zero` could not be read. */
  readonly ready: boolean
}

/**
 * Allocates `bytes` bytes and starts touching their pages on the thread pool (an open, a read and a close of
 * `/dev/zero`). Nothing to await: the caller checks `ready` when it needs the memory, and allocates anew when it is
 * not ready yet.
 * @example const memory = prefaulted(4 << 20)
 * @throws RangeError when `bytes` cannot be allocated (as `new ArrayBuffer` does); a failure to read `/dev/zero`
 * is not thrown, it leaves `ready` false.
 */
export function prefaulted(bytes: number): Prefaulted {
  const memory = { buffer: new ArrayBuffer(bytes), ready: false }
  const view = new Uint8Array(memory.buffer)
  fs.open('/dev/zero', 'r', (openError, fd) => {
    if (openError) return
    const readFrom = (offset: number): void => {
      if (offset === view.length) {
        memory.ready = true
        return fs.close(fd, () => {})
      }
      fs.read(fd, view, offset, Math.min(view.length - offset, MAX_READ), null, (readError, n) => {
        if (readError || n === 0) return fs.close(fd, () => {})
        readFrom(offset + n)
      })
    }
    readFrom(0)
  })
  return memory
}
