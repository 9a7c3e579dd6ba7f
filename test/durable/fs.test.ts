import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isHiddenName, nodeFs, tempPathFor } from '../../src/durable/fs.js'
import { rejectionOf, useTempDir } from '../checkpoint/tempDir.js'

describe('nodeFs', () => {
  const dir = useTempDir()

  it('rejects reading a missing file with code ENOENT', async () => {
    expect(await rejectionOf(nodeFs.readFile(join(dir(), 'nope')))).toMatchObject({ code: 'ENOENT' })
  })

  it('writeFileAtomic creates missing parent directories', async () => {
    const path = join(dir(), 'a', 'b', 'metadata')
    await nodeFs.writeFileAtomic(path, 'hello')
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('hello')
  })

  it('writeFileAtomic replaces existing content and leaves no temp file', async () => {
    const path = join(dir(), 'commits', '0')
    await nodeFs.writeFileAtomic(path, 'old')
    await nodeFs.writeFileAtomic(path, Buffer.from('new'))
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('new')
    expect(await fsp.readdir(join(dir(), 'commits'))).toEqual(['0'])
  })

  it('writeFileAtomic calls beforeReplace once the new content is synced, and keeps the old content when it throws', async () => {
    const path = join(dir(), 'offsets', '0')
    await nodeFs.writeFileAtomic(path, 'old')
    const seen: string[][] = []
    const refuse = async () => {
      // The temp file holds the new content by now; the target still holds the old one.
      seen.push(await fsp.readdir(join(dir(), 'offsets')))
      throw new Error('lease lost')
    }
    await expect(nodeFs.writeFileAtomic(path, 'new', refuse)).rejects.toThrow('lease lost')
    expect(seen).toHaveLength(1)
    expect(seen[0]!.filter((name) => name.endsWith('.tmp'))).toHaveLength(1)
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('old')
    expect(await fsp.readdir(join(dir(), 'offsets'))).toEqual(['0'])
    await nodeFs.writeFileAtomic(path, 'new', async () => void seen.push([]))
    expect(seen).toHaveLength(2)
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('new')
  })

  it('names temp files .<basename>.<pid>.<token>.tmp next to the target', () => {
    expect(tempPathFor('/ckpt/offsets/3', 'abc')).toBe(`/ckpt/offsets/.3.${process.pid}.abc.tmp`)
    expect(tempPathFor('/ckpt/offsets/3')).toMatch(new RegExp(`^/ckpt/offsets/\\.3\\.${process.pid}\\.[0-9a-f]+\\.tmp$`))
    expect(isHiddenName('.3.1.abc.tmp')).toBe(true)
  })

  it('appendFileDurable creates the file and appends to it', async () => {
    const path = join(dir(), 'sources', '0', 'log')
    await nodeFs.appendFileDurable(path, 'a\n')
    await nodeFs.appendFileDurable(path, new TextEncoder().encode('b\n'))
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('a\nb\n')
  })

  it('readdir of a missing directory is empty', async () => {
    expect(await nodeFs.readdir(join(dir(), 'missing'))).toEqual([])
  })

  it('readdir is sorted and hides temp and dot files', async () => {
    for (const name of ['b', '.b.1.x.tmp', 'a', '10', '.hidden']) await fsp.writeFile(join(dir(), name), '')
    expect(await nodeFs.readdir(dir())).toEqual(['10', 'a', 'b'])
  })

  it('exists tells files and directories from missing paths', async () => {
    await nodeFs.writeFileAtomic(join(dir(), 'f'), 'x')
    expect(await nodeFs.exists(join(dir(), 'f'))).toBe(true)
    expect(await nodeFs.exists(dir())).toBe(true)
    expect(await nodeFs.exists(join(dir(), 'g'))).toBe(false)
    expect(await nodeFs.exists(join(dir(), 'f', 'under-a-file'))).toBe(false)
  })

  it('mkdirp creates nested directories and accepts existing ones', async () => {
    const path = join(dir(), 'state', '0', '3')
    await nodeFs.mkdirp(path)
    await nodeFs.mkdirp(path)
    expect((await fsp.stat(path)).isDirectory()).toBe(true)
  })

  it('remove deletes a file, a directory tree, and accepts a missing path', async () => {
    await nodeFs.writeFileAtomic(join(dir(), 'state', '0', '1.delta'), 'x')
    await nodeFs.writeFileAtomic(join(dir(), 'f'), 'x')
    await nodeFs.remove(join(dir(), 'state'))
    await nodeFs.remove(join(dir(), 'f'))
    await nodeFs.remove(join(dir(), 'missing'))
    expect(await fsp.readdir(dir())).toEqual([])
  })

  it('size is the byte length of a file', async () => {
    await nodeFs.writeFileAtomic(join(dir(), 'f'), 'é')
    expect(await nodeFs.size(join(dir(), 'f'))).toBe(2)
  })

  it('createExclusive creates a file once and then answers false, keeping the first content', async () => {
    const path = join(dir(), 'sub', 'lock')
    expect(await nodeFs.createExclusive(path, 'first')).toBe(true)
    expect(await nodeFs.createExclusive(path, 'second')).toBe(false)
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe('first')
    expect(await fsp.readdir(join(dir(), 'sub'))).toEqual(['lock'])
  })

  it('createExclusive lets exactly one of many concurrent callers win', async () => {
    const path = join(dir(), 'lock')
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => nodeFs.createExclusive(path, `${i}`)))
    expect(results.filter(Boolean)).toHaveLength(1)
    expect((await nodeFs.readFile(path)).toString('utf8')).toBe(String(results.indexOf(true)))
  })
})

describe('nodeFs failures', () => {
  const dir = useTempDir()

  it('writeFileAtomic rejects with the open error itself when a parent is a file, creating no directory and no temp file', async () => {
    await fsp.writeFile(join(dir(), 'file'), 'x')
    const error = await rejectionOf(nodeFs.writeFileAtomic(join(dir(), 'file', 'sub', 'f'), 'data'))
    expect(error).toMatchObject({ code: 'ENOTDIR', syscall: 'open' })
    expect((error as { path: string }).path).toMatch(new RegExp(`^${join(dir(), 'file', 'sub')}/\\.f\\.${process.pid}\\.[^/]+\\.tmp$`))
    expect(await fsp.readdir(dir())).toEqual(['file'])
  })

  it('appendFileDurable and createExclusive reject with the Node error when a parent is a file', async () => {
    await fsp.writeFile(join(dir(), 'file'), 'x')
    expect(await rejectionOf(nodeFs.appendFileDurable(join(dir(), 'file', 'log'), 'a'))).toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) })
    expect(await rejectionOf(nodeFs.createExclusive(join(dir(), 'file', 'lock.1'), 'a'))).toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) })
    expect(await fsp.readdir(dir())).toEqual(['file'])
  })

  it('appendFileDurable names the file in a write error that names none (ENOSPC of /dev/full), code kept', async () => {
    const path = join(dir(), 'full')
    await fsp.symlink('/dev/full', path)
    const error = await rejectionOf(nodeFs.appendFileDurable(path, 'line\n'))
    expect(error).toMatchObject({ code: 'ENOSPC', syscall: 'write' })
    expect((error as Error).message).toBe(`ENOSPC: no space left on device, write (writing ${path})`)
  })

  it('exists, readdir and size reject other errors than a missing path with the Node error', async () => {
    await fsp.symlink('loop', join(dir(), 'loop'))
    expect(await rejectionOf(nodeFs.exists(join(dir(), 'loop', 'x')))).toMatchObject({ code: 'ELOOP' })
    await fsp.writeFile(join(dir(), 'file'), 'x')
    expect(await rejectionOf(nodeFs.readdir(join(dir(), 'file')))).toMatchObject({ code: 'ENOTDIR' })
    expect(await rejectionOf(nodeFs.size(join(dir(), 'missing')))).toMatchObject({ code: 'ENOENT' })
  })

  it('createExclusive answers false when any entry, a directory too, is at the target, and leaves no temp file', async () => {
    await fsp.mkdir(join(dir(), 'lock.1'))
    expect(await nodeFs.createExclusive(join(dir(), 'lock.1'), 'x')).toBe(false)
    expect(await fsp.readdir(dir())).toEqual(['lock.1'])
  })
})
