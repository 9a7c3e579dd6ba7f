/**
 * The failures of fdOps a healthy disk never gives, injected under node:fs: a directory that cannot be opened or
 * synced (what Windows and some file systems answer), an fsync that fails for real, short writes, a failing fstat,
 * and a file at the pinned path with the same inode number on another device.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { closeFd, fsyncDir, openDirFd, openFd, pinPath, syncDirFd, writeAllFd } from '../../src/durable/fdOps.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

type Callback = (error: NodeJS.ErrnoException | null, ...results: unknown[]) => void

/** What the next calls of each kind answer instead of the real call (undefined: the real call). */
const faults = vi.hoisted(() => ({
  open: undefined as undefined | (() => unknown),
  fsync: undefined as undefined | (() => unknown),
  fstat: undefined as undefined | (() => unknown),
  /** The most bytes one write(2) writes. */
  writeAtMost: Infinity,
  /** Added to the device number lstat reports. */
  lstatDevShift: 0n,
  calls: [] as string[],
}))

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  const failing = (make: undefined | (() => unknown), cb: Callback): boolean => {
    if (make === undefined) return false
    const error = make()
    process.nextTick(() => cb(error as NodeJS.ErrnoException))
    return true
  }
  return {
    ...real,
    open: (path: string, flags: number, mode: number, cb: Callback) => {
      faults.calls.push('open')
      if (!failing(faults.open, cb)) real.open(path, flags, mode, cb)
    },
    close: (fd: number, cb: Callback) => {
      faults.calls.push('close')
      real.close(fd, cb)
    },
    fsync: (fd: number, cb: Callback) => {
      faults.calls.push('fsync')
      if (!failing(faults.fsync, cb)) real.fsync(fd, cb)
    },
    fstat: (fd: number, options: object, cb: Callback) => {
      if (!failing(faults.fstat, cb)) real.fstat(fd, options as { bigint: true }, cb)
    },
    write: (fd: number, bytes: Uint8Array, offset: number, length: number, position: null, cb: Callback) => {
      faults.calls.push(`write ${offset}`)
      real.write(fd, bytes, offset, Math.min(length, faults.writeAtMost), position, cb)
    },
    lstat: (path: string, options: object, cb: Callback) =>
      real.lstat(path, options as { bigint: true }, (error, stats) => {
        if (stats !== undefined) stats.dev += faults.lstatDevShift
        cb(error, stats)
      }),
  }
})

const errno = (code: string | undefined, message = `${code}: injected`) => () =>
  code === undefined ? new Error(message) : Object.assign(new Error(message), { code })

describe('fdOps under injected faults', () => {
  const dir = useTempDir()
  afterEach(() => {
    Object.assign(faults, { open: undefined, fsync: undefined, fstat: undefined, writeAtMost: Infinity, lstatDevShift: 0n, calls: [] })
  })

  it('treats an fsync a file system cannot do on a directory as done: EINVAL, EBADF, EPERM, EISDIR', async () => {
    const fd = (await openDirFd(dir()))!
    try {
      for (const code of ['EINVAL', 'EBADF', 'EPERM', 'EISDIR']) {
        faults.fsync = errno(code)
        await syncDirFd(fd)
      }
    } finally {
      faults.fsync = undefined
      await closeFd(fd)
    }
  })

  it('rejects a directory fsync that really failed, and one whose error has no code, with that very error', async () => {
    const fd = (await openDirFd(dir()))!
    try {
      for (const code of ['EIO', 'ENOSPC', undefined]) {
        const error = errno(code, 'the disk is gone')()
        faults.fsync = () => error
        expect(await rejectionOf(syncDirFd(fd))).toBe(error)
      }
    } finally {
      faults.fsync = undefined
      await closeFd(fd)
    }
  })

  it('resolves without a descriptor where a directory cannot be opened (EISDIR, EPERM), and fsyncDir then does nothing', async () => {
    for (const code of ['EISDIR', 'EPERM']) {
      faults.open = errno(code)
      expect(await openDirFd(dir())).toBeUndefined()
      faults.calls = []
      await fsyncDir(dir())
      expect(faults.calls).toEqual(['open'])
    }
  })

  it('rejects other failures to open a directory with that error', async () => {
    for (const code of ['EACCES', 'EMFILE', undefined]) {
      const error = errno(code)()
      faults.open = () => error
      expect(await rejectionOf(openDirFd(dir()))).toBe(error)
      expect(await rejectionOf(fsyncDir(dir()))).toBe(error)
    }
  })

  it('closes the directory after a failed fsync, rejecting with the fsync error', async () => {
    const error = errno('EIO')()
    faults.fsync = () => error
    expect(await rejectionOf(fsyncDir(dir()))).toBe(error)
    expect(faults.calls).toEqual(['open', 'fsync', 'close'])
    faults.fsync = errno('EINVAL')
    faults.calls = []
    await fsyncDir(dir())
    expect(faults.calls).toEqual(['open', 'fsync', 'close'])
  })

  it('continues short writes from where each stopped until all bytes are written', async () => {
    const path = join(dir(), 'f')
    const fd = await openFd(path, 'wx')
    faults.writeAtMost = 4
    await writeAllFd(fd, 'héllo wörld')
    await closeFd(fd)
    expect(await readFile(path, 'utf8')).toBe('héllo wörld')
    expect(faults.calls.filter((c) => c.startsWith('write'))).toEqual(['write 0', 'write 4', 'write 8', 'write 12'])
  })

  it('closes the file and rejects when pinning it cannot fstat it', async () => {
    const path = join(dir(), 'lock.1')
    await writeFile(path, 'x')
    const error = errno('EIO')()
    faults.fstat = () => error
    expect(await rejectionOf(pinPath(path))).toBe(error)
    expect(faults.calls).toEqual(['open', 'close'])
  })

  it('tells a file with the same inode number on another device from the pinned one', async () => {
    const path = join(dir(), 'lock.1')
    await writeFile(path, 'x')
    const pin = await pinPath(path)
    expect(await pin.stillAt()).toBe(true)
    faults.lstatDevShift = 1n
    expect(await pin.stillAt()).toBe(false)
    await pin.release()
  })
})
