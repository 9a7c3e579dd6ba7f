/**
 * The writer thread starts without V8's memory reducer (whose one full collection would land in an idle query's first
 * seconds) and gives the flag back to the process as soon as the thread is online; a process started with its own
 * memory-reducer setting is left as it is. The flag calls are recorded through node:v8 (still made for real).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WriterThread } from '../../src/durable/writerThread.js'
import { useTempDir } from '../checkpoint/tempDir.js'

const flags = vi.hoisted(() => [] as string[])

vi.mock('node:v8', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:v8')>()
  const setFlagsFromString = (flag: string) => {
    flags.push(flag)
    real.setFlagsFromString(flag)
  }
  return { ...real, setFlagsFromString, default: { ...real, setFlagsFromString } }
})

describe('WriterThread and the memory reducer', () => {
  const dir = useTempDir()
  const nodeOptions = process.env.NODE_OPTIONS
  afterEach(() => {
    flags.length = 0
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = nodeOptions
  })

  /** Starts a thread and writes one file through it (so the thread is online by the time it resolves). */
  async function writeThrough(): Promise<void> {
    const path = join(dir(), 'f')
    await new WriterThread().write(path, join(dir(), '.f.tmp'), Buffer.from('x'))
    expect(await readFile(path, 'utf8')).toBe('x')
  }

  it('turns the memory reducer off while the thread starts and on again once it is online', async () => {
    await writeThrough()
    expect(flags).toEqual(['--no-memory-reducer', '--memory-reducer'])
  })

  it('leaves the flag alone when the process chose its own memory-reducer setting', async () => {
    for (const chosen of ['--max-old-space-size=512 --no-memory-reducer', '--memory_reducer']) {
      process.env.NODE_OPTIONS = chosen
      await writeThrough()
      expect(flags).toEqual([])
    }
  })
})
