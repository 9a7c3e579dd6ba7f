/**
 * Memory touched ahead on the thread pool: never ready at the moment it is handed out (a pool thread may still be
 * writing into it), ready once every page was read from /dev/zero, and allocated as `new ArrayBuffer` would.
 */
import { describe, expect, it, vi } from 'vitest'
import { prefaulted } from '../../src/durable/prefault.js'
import { thrownBy } from '../checkpoint/tempDir.js'

describe('prefaulted', () => {
  it('is not ready when handed out, and becomes ready, all zeros, once the pool has read it full', async () => {
    const memory = prefaulted(1 << 20)
    expect(memory.ready).toBe(false)
    expect(memory.buffer.byteLength).toBe(1 << 20)
    new Uint8Array(memory.buffer).fill(7, 0, 16)
    await vi.waitFor(() => expect(memory.ready).toBe(true), { timeout: 10_000, interval: 5 })
    // The read from /dev/zero wrote over every byte, the first ones included.
    expect(new Uint8Array(memory.buffer).every((b) => b === 0)).toBe(true)
  })

  it('hands out empty memory not ready either, and it becomes ready with nothing to read', async () => {
    const memory = prefaulted(0)
    expect(memory.ready).toBe(false)
    expect(memory.buffer.byteLength).toBe(0)
    await vi.waitFor(() => expect(memory.ready).toBe(true), { timeout: 10_000, interval: 5 })
  })

  it('refuses a size an ArrayBuffer cannot have, as new ArrayBuffer does', () => {
    expect(thrownBy(() => prefaulted(-1))).toBeInstanceOf(RangeError)
  })
})
