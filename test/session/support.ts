/** Sessions made by a test file's tests, each stopped after its test. */
import { afterEach } from 'vitest'
import { createSession, type Session } from '../../src/index.js'

/** A `session(options)` maker whose sessions are stopped after each test of the file that calls it (at top level). */
export function stoppedAfterEach(): (options?: Parameters<typeof createSession>[0]) => Session {
  const sessions: Session[] = []
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.stop()))
  })
  return (options = {}) => {
    const s = createSession(options)
    sessions.push(s)
    return s
  }
}
