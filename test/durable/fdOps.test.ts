/**
 * The descriptor calls under nodeFs's durable writes, on real files: errors keep their code and name the path,
 * a pinned file is read whole through its descriptor and told apart from a file put in its place, and mkdirp makes
 * a whole chain of directories. (fdOpsFaults.test.ts injects the failures a healthy disk never gives.)
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks'
import { readdirSync, readlinkSync, realpathSync } from 'node:fs'
import { mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { closeFd, fsyncDir, fsyncFd, mkdirp, openDirFd, openFd, pinPath, renamePath, syncDirFd, writeAllFd } from '../../src/durable/fdOps.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

describe('fdOps', () => {
  const dir = useTempDir()

  it('creates a file with wx, writes all of a string as UTF-8 and bytes after it, fsyncs and closes it', async () => {
    const path = join(dir(), 'f')
    const fd = await openFd(path, 'wx')
    await writeAllFd(fd, 'héllo €\n')
    await writeAllFd(fd, new Uint8Array([0x61, 0x62]))
    await writeAllFd(fd, '')
    await fsyncFd(fd)
    await closeFd(fd)
    expect(await readFile(path, 'utf8')).toBe('héllo €\nab')
    const exists = await rejectionOf(openFd(path, 'wx'))
    expect(exists).toMatchObject({ code: 'EEXIST', syscall: 'open', path })
  })

  it('rejects with the Node error, code kept, for an open of a missing file and calls on a descriptor that is not open', async () => {
    const missing = join(dir(), 'nope', 'f')
    expect(await rejectionOf(openFd(missing, 'r'))).toMatchObject({ code: 'ENOENT', path: missing })
    const fd = 1_000_000 // never open: beyond the descriptor limit
    expect(await rejectionOf(closeFd(fd))).toMatchObject({ code: 'EBADF', syscall: 'close' })
    expect(await rejectionOf(fsyncFd(fd))).toMatchObject({ code: 'EBADF', syscall: 'fsync' })
    expect(await rejectionOf(writeAllFd(fd, 'x'))).toMatchObject({ code: 'EBADF', syscall: 'write' })
  })

  it('renames a file over another, and rejects a rename of a missing file naming both paths', async () => {
    await writeFile(join(dir(), 'a'), 'new')
    await writeFile(join(dir(), 'b'), 'old')
    await renamePath(join(dir(), 'a'), join(dir(), 'b'))
    expect(await readFile(join(dir(), 'b'), 'utf8')).toBe('new')
    expect(await rejectionOf(renamePath(join(dir(), 'a'), join(dir(), 'c')))).toMatchObject({
      code: 'ENOENT',
      syscall: 'rename',
      path: join(dir(), 'a'),
      dest: join(dir(), 'c'),
    })
  })

  it('fsyncs a directory, and rejects for a missing one with ENOENT', async () => {
    await fsyncDir(dir())
    const fd = (await openDirFd(dir()))!
    expect(typeof fd).toBe('number')
    await syncDirFd(fd)
    await closeFd(fd)
    const missing = join(dir(), 'missing')
    expect(await rejectionOf(fsyncDir(missing))).toMatchObject({ code: 'ENOENT', path: missing })
    expect(await rejectionOf(openDirFd(missing))).toMatchObject({ code: 'ENOENT', path: missing })
  })

  it('fsyncs the parent of each directory it created, and nothing when it created none', async () => {
    const root = realpathSync(dir())
    // Every directory a chain's fsyncs open: what `/proc/self/fd` names under `root` while the callback requests run.
    expect(await syncedBy(root, () => mkdirp(join(root, 'a', 'b', 'c')))).toEqual({ open: [root, join(root, 'a'), join(root, 'a', 'b')], requests: 9 })
    expect(await syncedBy(root, () => mkdirp(join(root, 'a', 'b', 'c')))).toEqual({ open: [], requests: 0 })
    expect(await syncedBy(root, () => mkdirp(join(root, 'a', 'x')))).toEqual({ open: [join(root, 'a')], requests: 3 })
    expect(await syncedBy(root, () => mkdirp(join(root, 'a', 'b', 'c', 'd', 'e')))).toEqual({ open: [join(root, 'a', 'b', 'c'), join(root, 'a', 'b', 'c', 'd')], requests: 6 })
  })

  it('creates every missing directory of a chain, and leaves an existing one as it is', async () => {
    const deep = join(dir(), 'a', 'b', 'c')
    await mkdirp(deep)
    expect((await stat(deep)).isDirectory()).toBe(true)
    await writeFile(join(deep, 'keep'), 'x')
    await mkdirp(deep)
    await mkdirp(join(dir(), 'a', 'b', '.', 'c', '..', 'c'))
    expect(await readFile(join(deep, 'keep'), 'utf8')).toBe('x')
    await writeFile(join(dir(), 'file'), 'x')
    expect(await rejectionOf(mkdirp(join(dir(), 'file', 'sub')))).toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) })
  })

  describe('pinPath', () => {
    it('reads the whole pinned file from its start, however large and however often', async () => {
      const path = join(dir(), 'lock.3')
      const big = Buffer.alloc(40_000)
      for (let i = 0; i < big.length; i++) big[i] = i % 251
      await writeFile(path, big)
      const pin = await pinPath(path)
      expect((await pin.read()).equals(big)).toBe(true)
      expect((await pin.read()).equals(big)).toBe(true)
      await pin.release()
      await writeFile(path, '')
      const empty = await pinPath(path)
      expect(await empty.read()).toEqual(Buffer.alloc(0))
      await empty.release()
    })

    it('is still at its path until the path names another file, and reads its own content after that', async () => {
      const path = join(dir(), 'lock.3')
      await writeFile(path, 'mine')
      const pin = await pinPath(path)
      expect(await pin.stillAt()).toBe(true)
      await writeFile(path, 'rewritten in place')
      expect(await pin.stillAt()).toBe(true)
      await writeFile(join(dir(), 'other'), 'theirs')
      await rename(join(dir(), 'other'), path)
      expect(await pin.stillAt()).toBe(false)
      expect((await pin.read()).toString()).toBe('rewritten in place')
      await pin.release()
    })

    it('is not at its path once the file is removed or a parent is no longer a directory', async () => {
      const sub = join(dir(), 'sub')
      await mkdir(sub)
      await writeFile(join(sub, 'f'), 'x')
      const pin = await pinPath(join(sub, 'f'))
      await rm(join(sub, 'f'))
      expect(await pin.stillAt()).toBe(false)
      await rm(sub, { recursive: true })
      await writeFile(sub, 'now a file')
      expect(await pin.stillAt()).toBe(false)
      await pin.release()
    })

    it('rejects a check whose lstat fails otherwise (a symlink loop in the path), code kept', async () => {
      const sub = join(dir(), 'sub')
      await mkdir(sub)
      await writeFile(join(sub, 'f'), 'x')
      const pin = await pinPath(join(sub, 'f'))
      await rename(sub, join(dir(), 'moved'))
      await symlink(sub, sub)
      expect(await rejectionOf(pin.stillAt())).toMatchObject({ code: 'ELOOP', syscall: 'lstat' })
      await pin.release()
    })

    it('is never at its path once released, and releases once however often it is called', async () => {
      const path = join(dir(), 'f')
      await writeFile(path, 'x')
      const pin = await pinPath(path)
      await pin.release()
      expect(await pin.stillAt()).toBe(false)
      await pin.release()
    })

    it('rejects a missing file with ENOENT naming it', async () => {
      const path = join(dir(), 'missing')
      expect(await rejectionOf(pinPath(path))).toMatchObject({ code: 'ENOENT', syscall: 'open', path })
    })
  })
})

/**
 * What `run` did with descriptors of directories under `root`: the paths open (seen in `/proc/self/fd` as each of its
 * callback requests completed) and how many fs callback requests it made (an open, an fsync and a close per synced
 * directory). Requests of other code running meanwhile are not counted: only those made in `run`'s async context.
 */
async function syncedBy(root: string, run: () => Promise<void>): Promise<{ open: string[]; requests: number }> {
  const context = new AsyncLocalStorage<true>()
  const ours = new Set<number>()
  const open = new Set<string>()
  const look = () => {
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`)
        if (target === root || target.startsWith(`${root}/`)) open.add(target)
      } catch {
        // The descriptor of the listing itself, closed by now.
      }
    }
  }
  const hook = createHook({
    init(id, type) {
      if (type === 'FSREQCALLBACK' && context.getStore() === true) ours.add(id)
    },
    before(id) {
      if (ours.has(id)) look()
    },
  }).enable()
  try {
    await context.run(true, run)
  } finally {
    hook.disable()
  }
  return { open: [...open].sort(), requests: ours.size }
}
