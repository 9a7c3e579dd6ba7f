/**
 * A worker process of the lock race test (`lockRace.test.ts`): for every line `<dir>` on stdin it tries to take the
 * lock of checkpoint `<dir>` and answers `won <dir>` or `lost <dir> <error code>`. Won locks are held until the
 * process exits, so every winner stays a live holder.
 *
 *   node --import tsx test/checkpoint/lockRacer.ts
 */
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { nodeFs } from '../../src/durable/fs.js'
import { acquireCheckpointLock, type CheckpointLock } from '../../src/durable/lock.js'

const held: CheckpointLock[] = []
const lines = createInterface({ input: process.stdin })
lines.on('line', (dir) => {
  acquireCheckpointLock(nodeFs, dir, { runId: randomUUID() }).then(
    (lock) => {
      held.push(lock)
      process.stdout.write(`won ${dir}\n`)
    },
    (error: unknown) => {
      const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error)
      process.stdout.write(`lost ${dir} ${code}\n`)
    },
  )
})
lines.on('close', () => process.exit(0))
