/** What a start finds left behind by crashes, and how start-time I/O errors read. */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createSession, memorySink, memorySource, nodeFs } from '../../src/index.js'
import { rejectionOf, useTempDir } from './tempDir.js'

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  return child.pid!
}

describe('start-up hygiene', () => {
  const dir = useTempDir()

  it('sweeps the temp files of atomic writes that crashed processes left in the checkpoint, keeping live ones', async () => {
    const dead = await deadPid()
    const litter = [join(dir(), 'offsets', `.3.${dead}.a1b2c3.tmp`), join(dir(), 'state', 'count', '0', `.4.delta.${dead}.ffee01.tmp`)]
    const inFlight = join(dir(), 'offsets', `.5.${process.pid}.0a0b0c.tmp`)
    for (const path of [...litter, inFlight]) {
      await mkdir(join(path, '..'), { recursive: true })
      await writeFile(path, 'half a wri')
    }
    const q = await createSession().readStream(memorySource<{ v: number }>().source).writeStream({ outputMode: 'append', sink: memorySink(), checkpointLocation: dir() }).start()
    await q.stop()
    expect(litter.filter((p) => existsSync(p))).toEqual([])
    expect(existsSync(inFlight)).toBe(true)
  })

  it('names the file in a "no space left on device" error, which Node reports without one', async () => {
    const error = await rejectionOf(nodeFs.appendFileDurable('/dev/full', 'x'))
    expect(error).toMatchObject({ code: 'ENOSPC' })
    expect((error as Error).message).toContain('/dev/full')
  })
})
