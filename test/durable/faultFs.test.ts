import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type CheckpointFs, nodeFs } from '../../src/durable/fs.js'
import { countingFs, type FaultKind, faultyFs, SimulatedCrash } from '../../src/durable/faultFs.js'
import { rejectionOf, thrownBy, useTempDir } from '../checkpoint/tempDir.js'

const text = async (path: string): Promise<string> => (await fsp.readFile(path)).toString('utf8')

/** A little checkpoint-like run with one of every mutating op. */
async function scenario(fs: CheckpointFs, root: string): Promise<void> {
  await fs.mkdirp(join(root, 'offsets'))
  await fs.writeFileAtomic(join(root, 'offsets', '0'), 'offsets 0')
  await fs.appendFileDurable(join(root, 'sources', 'log'), 'line 0\n')
  await fs.createExclusive(join(root, 'lock'), 'me')
  await fs.remove(join(root, 'lock'))
}

describe('faultyFs', () => {
  const dir = useTempDir()

  it('counts and traces only mutating operations, relative to the root', async () => {
    const fs = faultyFs(nodeFs, { at: Infinity }, { root: dir() })
    await scenario(fs, dir())
    await fs.readFile(join(dir(), 'offsets', '0'))
    await fs.readdir(dir())
    expect(fs.opCount).toBe(5)
    expect(fs.ops).toEqual([
      'mkdirp offsets',
      'writeFileAtomic offsets/0',
      'appendFileDurable sources/log',
      'createExclusive lock',
      'remove lock',
    ])
    expect(fs.crashed).toBe(false)
  })

  it('with { at: Infinity } passes everything through', async () => {
    await scenario(faultyFs(nodeFs, { at: Infinity }), dir())
    expect(await text(join(dir(), 'offsets', '0'))).toBe('offsets 0')
    expect(await text(join(dir(), 'sources', 'log'))).toBe('line 0\n')
  })

  it('crashBefore throws SimulatedCrash without doing the operation', async () => {
    const fs = faultyFs(nodeFs, { at: 1, kind: 'crashBefore' }, { root: dir() })
    const error = await rejectionOf(scenario(fs, dir()))
    expect(error).toBeInstanceOf(SimulatedCrash)
    expect(error).toMatchObject({ op: 'writeFileAtomic offsets/0 [crashBefore]' })
    expect(fs.crashed).toBe(true)
    expect(await nodeFs.exists(join(dir(), 'offsets', '0'))).toBe(false)
  })

  it('crashAfter does the operation, then throws SimulatedCrash', async () => {
    const fs = faultyFs(nodeFs, { at: 1, kind: 'crashAfter' })
    expect(await rejectionOf(scenario(fs, dir()))).toBeInstanceOf(SimulatedCrash)
    expect(await text(join(dir(), 'offsets', '0'))).toBe('offsets 0')
    expect(await nodeFs.exists(join(dir(), 'sources', 'log'))).toBe(false)
  })

  it('after a crash every call, reads included, throws SimulatedCrash', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'crashAfter' })
    await rejectionOf(fs.mkdirp(join(dir(), 'x')))
    for (const call of [
      () => fs.readFile(join(dir(), 'x')),
      () => fs.exists(dir()),
      () => fs.readdir(dir()),
      () => fs.size(dir()),
      () => fs.writeFileAtomic(join(dir(), 'y'), 'y'),
      () => fs.remove(join(dir(), 'x')),
    ]) {
      expect(await rejectionOf(call())).toBeInstanceOf(SimulatedCrash)
    }
    expect(fs.opCount).toBe(1)
    expect(await nodeFs.exists(join(dir(), 'x'))).toBe(true)
  })

  it('a torn writeFileAtomic keeps the old content and leaves half the new bytes in a hidden temp file', async () => {
    const path = join(dir(), 'commits', '0')
    await nodeFs.writeFileAtomic(path, 'old content')
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(fs.writeFileAtomic(path, 'new content!'))).toBeInstanceOf(SimulatedCrash)
    expect(await text(path)).toBe('old content')
    const names = await fsp.readdir(join(dir(), 'commits'))
    const temps = names.filter((name) => name !== '0')
    expect(temps).toEqual([`.0.${process.pid}.torn0.tmp`])
    expect(await text(join(dir(), 'commits', temps[0]))).toBe('new co')
    expect(await nodeFs.readdir(join(dir(), 'commits'))).toEqual(['0'])
  })

  it('a torn writeFileAtomic of a new file leaves no target', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    await rejectionOf(fs.writeFileAtomic(join(dir(), 'offsets', '0'), 'abcd'))
    expect(await nodeFs.exists(join(dir(), 'offsets', '0'))).toBe(false)
  })

  it('a torn appendFileDurable appends the first half of the bytes', async () => {
    const path = join(dir(), 'wal')
    await nodeFs.appendFileDurable(path, 'line 0\n')
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(fs.appendFileDurable(path, 'line 1\n!'))).toBeInstanceOf(SimulatedCrash)
    expect(await text(path)).toBe('line 0\nline')
  })

  it('a torn createExclusive leaves a file with the first half of the bytes', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(fs.createExclusive(join(dir(), 'lock'), 'abcdef'))).toBeInstanceOf(SimulatedCrash)
    expect(await text(join(dir(), 'lock'))).toBe('abc')
  })

  it('a torn write splits bytes, not characters', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    await rejectionOf(fs.appendFileDurable(join(dir(), 'wal'), 'éé'))
    expect(await fsp.readFile(join(dir(), 'wal'))).toEqual(Buffer.from('éé').subarray(0, 2))
  })

  it('tornWrite of an op without data (mkdirp, remove) crashes before it', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' })
    expect(await rejectionOf(fs.mkdirp(join(dir(), 'x')))).toBeInstanceOf(SimulatedCrash)
    expect(await nodeFs.exists(join(dir(), 'x'))).toBe(false)
  })

  it.each(['ENOSPC', 'EIO'] as const)('%s rejects with that code without doing the op, and the fs keeps working', async (kind) => {
    const path = join(dir(), 'metadata')
    const fs = faultyFs(nodeFs, { at: 0, kind })
    const error = await rejectionOf(fs.writeFileAtomic(path, 'x'))
    expect(error).not.toBeInstanceOf(SimulatedCrash)
    expect(error).toMatchObject({ code: kind, path })
    expect((error as Error).message).toMatch(new RegExp(`^${kind}: `))
    expect(fs.crashed).toBe(false)
    expect(await fs.exists(path)).toBe(false)
    await fs.writeFileAtomic(path, 'y')
    expect(await text(path)).toBe('y')
    expect(fs.opCount).toBe(2)
  })

  it('needs a kind when the fault is at a finite op', () => {
    expect(thrownBy(() => faultyFs(nodeFs, { at: 0 }))).toBeInstanceOf(TypeError)
  })

  it('can fail each op countingFs counted, with each kind, exactly there', async () => {
    const counter = countingFs(nodeFs, { root: join(dir(), 'count') })
    await scenario(counter, join(dir(), 'count'))
    const kinds: FaultKind[] = ['crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO']
    for (let at = 0; at < counter.opCount; at++) {
      for (const kind of kinds) {
        const root = join(dir(), `${at}-${kind}`)
        const fs = faultyFs(nodeFs, { at, kind }, { root })
        await rejectionOf(scenario(fs, root))
        expect(fs.ops).toEqual([...counter.ops.slice(0, at), `${counter.ops[at]} [${kind}]`])
      }
    }
  })
})

describe('faultyFs passing calls through and naming its faults', () => {
  const dir = useTempDir()

  it('renames through the inner fs and traces the rename under the source path', async () => {
    const fs = faultyFs(nodeFs, { at: Infinity }, { root: dir() })
    await nodeFs.writeFileAtomic(join(dir(), 'state', 'a'), 'moved')
    await fs.renameDurable(join(dir(), 'state', 'a'), join(dir(), 'state', 'b'))
    expect(await text(join(dir(), 'state', 'b'))).toBe('moved')
    expect(await nodeFs.exists(join(dir(), 'state', 'a'))).toBe(false)
    expect(fs.ops).toEqual(['renameDurable state/a'])
  })

  it('tornWrite of renameDurable crashes before it: nothing is moved', async () => {
    await nodeFs.writeFileAtomic(join(dir(), 'a'), 'x')
    const fs = faultyFs(nodeFs, { at: 0, kind: 'tornWrite' }, { root: dir() })
    const error = await rejectionOf(fs.renameDurable(join(dir(), 'a'), join(dir(), 'b')))
    expect(error).toMatchObject({ op: 'renameDurable a [tornWrite]' })
    expect(await nodeFs.readdir(dir())).toEqual(['a'])
  })

  it('streams a file through the inner readChunks, and has none when the inner fs has none', async () => {
    const path = join(dir(), 'log')
    await nodeFs.writeFileAtomic(path, 'chunked content')
    const fs = faultyFs(nodeFs, { at: Infinity })
    expect(fs.readChunks).toBeTypeOf('function')
    const chunks: Buffer[] = []
    for await (const chunk of fs.readChunks!(path)) chunks.push(Buffer.from(chunk))
    expect(Buffer.concat(chunks).toString('utf8')).toBe('chunked content')
    expect(fs.opCount).toBe(0)
    expect(faultyFs({ ...nodeFs, readChunks: undefined }, { at: Infinity }).readChunks).toBeUndefined()
  })

  it('refuses readChunks and pinned-file reads after the crash, naming the call; a pin still releases', async () => {
    const path = join(dir(), 'lock.1')
    await nodeFs.writeFileAtomic(path, 'holder')
    const fs = faultyFs(nodeFs, { at: 0, kind: 'crashBefore' }, { root: dir() })
    const pin = await fs.pinFile!(path)
    expect((await pin.read()).toString('utf8')).toBe('holder')
    expect(await pin.stillAt()).toBe(true)
    await rejectionOf(fs.mkdirp(join(dir(), 'x')))
    const chunks = thrownBy(() => fs.readChunks!(path))
    expect(chunks).toBeInstanceOf(SimulatedCrash)
    expect((chunks as Error).message).toBe('simulated crash at readChunks lock.1 after the crash')
    expect(await rejectionOf(pin.read())).toMatchObject({ message: 'simulated crash at read pinned lock.1 after the crash' })
    expect(await rejectionOf(pin.stillAt())).toMatchObject({ message: 'simulated crash at stillAt lock.1 after the crash' })
    expect(await rejectionOf(fs.pinFile!(path))).toMatchObject({ message: 'simulated crash at pinFile lock.1 after the crash' })
    await pin.release()
    expect(faultyFs({ ...nodeFs, pinFile: undefined }, { at: Infinity }).pinFile).toBeUndefined()
  })

  it('names its crash: SimulatedCrash, code SRX_SIMULATED_CRASH, the op in the message', async () => {
    const fs = faultyFs(nodeFs, { at: 0, kind: 'crashAfter' }, { root: dir() })
    const error = await rejectionOf(fs.writeFileAtomic(join(dir(), 'metadata'), 'm'))
    expect(error).toBeInstanceOf(SimulatedCrash)
    expect(error).toMatchObject({
      name: 'SimulatedCrash',
      code: 'SRX_SIMULATED_CRASH',
      op: 'writeFileAtomic metadata [crashAfter]',
      message: 'simulated crash at writeFileAtomic metadata [crashAfter]',
    })
    expect(String(error)).toBe('SimulatedCrash: simulated crash at writeFileAtomic metadata [crashAfter]')
    expect(await rejectionOf(fs.readFile(join(dir(), 'metadata')))).toMatchObject({
      op: 'readFile metadata after the crash',
      message: 'simulated crash at readFile metadata after the crash',
    })
    expect(await rejectionOf(fs.createExclusive(join(dir(), 'lock'), 'l'))).toMatchObject({ op: 'createExclusive lock after the crash' })
    expect(fs.opCount).toBe(1)
  })

  it.each([
    ['ENOSPC', -28, 'no space left on device'],
    ['EIO', -5, 'i/o error'],
  ] as const)('%s is a Node-style error naming the op and the full path', async (kind, errno, text) => {
    const path = join(dir(), 'sources', 'log')
    const fs = faultyFs(nodeFs, { at: 0, kind }, { root: dir() })
    const error = await rejectionOf(fs.appendFileDurable(path, 'line\n'))
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({ code: kind, errno, syscall: 'appendFileDurable', path, message: `${kind}: ${text}, appendFileDurable '${path}'` })
    expect(fs.ops).toEqual([`appendFileDurable sources/log [${kind}]`])
    expect(await nodeFs.exists(path)).toBe(false)
  })

  it('needs a kind at a finite op, naming the op; an infinite one needs none', () => {
    expect(thrownBy(() => faultyFs(nodeFs, { at: 3 }))).toMatchObject({ name: 'TypeError', message: 'fault at op 3 needs a kind' })
    expect(faultyFs(nodeFs, { at: Infinity }).crashed).toBe(false)
  })

  it('shows the root itself as "."', async () => {
    const fs = faultyFs(nodeFs, { at: Infinity }, { root: dir() })
    await fs.mkdirp(dir())
    expect(fs.ops).toEqual(['mkdirp .'])
  })
})

describe('countingFs', () => {
  const dir = useTempDir()

  it('counts mutating operations and passes them through', async () => {
    const fs = countingFs(nodeFs, { root: dir() })
    await scenario(fs, dir())
    expect(fs.opCount).toBe(5)
    expect(fs.ops[1]).toBe('writeFileAtomic offsets/0')
    expect(await text(join(dir(), 'offsets', '0'))).toBe('offsets 0')
  })

  it('without a root traces absolute paths', async () => {
    const fs = countingFs(nodeFs)
    await fs.mkdirp(join(dir(), 'a'))
    expect(fs.ops).toEqual([`mkdirp ${join(dir(), 'a')}`])
  })
})
