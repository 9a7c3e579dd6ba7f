/**
 * Temp directories for the tests of one file, each removed after the test that made it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'

/**
 * Registers the clean-up and returns the maker: `tempDir('src')` is a new directory `srx-src-…` under the OS temp dir.
 * @example const tempDir = useTempDirs(); const input = await tempDir('in')
 */
export function useTempDirs(): (prefix: string) => Promise<string> {
  const created: string[] = []
  afterEach(async () => {
    await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })
  return async (prefix) => {
    const dir = await mkdtemp(join(tmpdir(), `srx-${prefix}-`))
    created.push(dir)
    return dir
  }
}
